package coordinator

import (
	"context"
	"sync"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// Manifest retry backoff after a failed write, and how many manifests
// are written at once.
const (
	manifestRetryMin = 2 * time.Second
	manifestRetryMax = 5 * time.Minute
	manifestWorkers  = 4
)

// manifests writes the manifest of every finished job, on the leader:
// when a job ends (done, failed or cancelled: the manifest of the last two
// lists the unfinished shards' samples with the job's state as their
// status), the store signals (JobDone) and the
// leader starts writing <output>/manifest.jsonl and manifest.parquet from
// the shards' stats (storage.WriteManifest: streamed, deterministic
// bytes), up to manifestWorkers jobs at once. A written manifest is
// recorded in the Raft state (CmdJobManifest sets Job.ManifestAt), so a
// new leader looks only at the done jobs without one
// (Store.ManifestsPending) — never at every finished job — and a leader
// killed mid-write loses nothing: its successor finds the job pending,
// and writeJobManifest skips the write if manifest.parquet (written last) is
// already there. Failures are retried with backoff on later ticks.
type manifests struct {
	mu       sync.Mutex
	inflight map[protocol.JobID]bool
	retry    map[protocol.JobID]manifestRetry
	// queue holds pending jobs not yet started, refilled from the store on
	// a done event or a tick (not when a writer finishes: with thousands
	// pending after a failover, each refill is O(pending)).
	queue  []protocol.JobID
	queued map[protocol.JobID]bool
	// wake is signalled when a writer finishes (a pool slot is free).
	wake chan struct{}
	// write writes one job's manifest (nil: Server.manifestOf, which
	// publishes the accepted attempts first; tests count calls).
	write func(context.Context, protocol.Job) (storage.ManifestInfo, error)
}

type manifestRetry struct {
	at    time.Time
	delay time.Duration
}

func newManifests() *manifests {
	return &manifests{inflight: map[protocol.JobID]bool{}, retry: map[protocol.JobID]manifestRetry{},
		queued: map[protocol.JobID]bool{}, wake: make(chan struct{}, 1)}
}

// setWriter replaces the manifest writer (tests).
func (m *manifests) setWriter(w func(context.Context, protocol.Job) (storage.ManifestInfo, error)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.write = w
}

// manifestDispatch starts writers for queued manifests while a pool slot
// is free (refill: first queue the store's pending jobs); wg tracks them
// so leadership loss can wait for them.
func (s *Server) manifestDispatch(ctx context.Context, wg *sync.WaitGroup, refill bool) {
	m := s.manifests
	now := s.cfg.Clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if refill {
		for _, id := range s.store.ManifestsPending() {
			if !m.queued[id] && !m.inflight[id] {
				m.queue = append(m.queue, id)
				m.queued[id] = true
			}
		}
	}
	for len(m.inflight) < manifestWorkers && len(m.queue) > 0 {
		id := m.queue[0]
		m.queue = m.queue[1:]
		delete(m.queued, id)
		j, ok := s.store.JobByID(id)
		if !ok || !j.State.Terminal() || !j.ManifestAt.IsZero() || now.Before(m.retry[id].at) {
			continue // recorded meanwhile, or backing off: a later refill queues it again
		}
		m.inflight[id] = true
		write := m.write
		if write == nil {
			write = s.manifestOf
		}
		wg.Go(func() { s.writeManifest(ctx, j, write) })
	}
}

// writeManifest writes one job's manifest and records it through Raft.
func (s *Server) writeManifest(ctx context.Context, j protocol.Job, write func(context.Context, protocol.Job) (storage.ManifestInfo, error)) {
	m := s.manifests
	defer func() {
		m.mu.Lock()
		delete(m.inflight, j.ID)
		m.mu.Unlock()
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}()
	start := time.Now()
	log := s.log.With("job_id", j.ID)
	info, err := write(ctx, j)
	if err == nil {
		_, err = s.apply(ctx, protocol.CmdJobManifest|protocol.IgnoreUnknown, protocol.JobManifest{ID: j.ID, At: s.cfg.Clock()})
		if protocol.CodeOf(err) == protocol.CodeConflict || protocol.CodeOf(err) == protocol.CodeNotFound {
			err = nil // recorded already, or the job is gone
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		m.mu.Lock()
		r := m.retry[j.ID]
		r.delay = min(max(2*r.delay, manifestRetryMin), manifestRetryMax)
		r.at = s.cfg.Clock().Add(r.delay)
		m.retry[j.ID] = r
		m.mu.Unlock()
		log.Warn("writing job manifest", "err", err, "retry_in", r.delay)
		return
	}
	m.mu.Lock()
	delete(m.retry, j.ID)
	m.mu.Unlock()
	if info.Rows > 0 {
		log.Info("job manifest written", "rows", info.Rows, "shards", info.Shards,
			"parquet_bytes", info.ParquetBytes, "seconds", time.Since(start).Seconds())
	}
	switch {
	case info.SweepErr != nil:
		log.Warn("aborting the manifest uploads an earlier writer left open", "aborted", info.Aborted, "err", info.SweepErr)
	case info.Aborted > 0:
		log.Info("aborted the manifest uploads an earlier writer left open", "aborted", info.Aborted)
	}
}
