package coordinator

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// Manifest retry backoff after a failed write.
const (
	manifestRetryMin = 2 * time.Second
	manifestRetryMax = 5 * time.Minute
)

// manifests writes the manifest of every done job, on the leader: after
// a job's last shard completion is applied, the leader's next tick writes
// <output>/manifest.jsonl and manifest.parquet from the shards' stats
// (storage.WriteManifest: streamed, deterministic bytes). A new leader
// checks every done job once (a Stat of manifest.parquet, written last)
// and writes those missing, so a leader killed mid-write loses nothing.
// One manifest is written at a time; failures are retried with backoff.
type manifests struct {
	mu    sync.Mutex
	done  map[protocol.JobID]bool
	retry map[protocol.JobID]manifestRetry
	busy  bool
}

type manifestRetry struct {
	at    time.Time
	delay time.Duration
}

func newManifests() *manifests {
	return &manifests{done: map[protocol.JobID]bool{}, retry: map[protocol.JobID]manifestRetry{}}
}

// tick starts writing the next missing manifest (if none is being
// written); wg tracks the writer so leadership loss can wait for it.
func (s *Server) manifestTick(ctx context.Context, wg *sync.WaitGroup) {
	m := s.manifests
	now := s.cfg.Clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.busy {
		return
	}
	for _, j := range s.store.Jobs(protocol.JobDone) {
		if m.done[j.ID] || now.Before(m.retry[j.ID].at) {
			continue
		}
		m.busy = true
		wg.Go(func() { s.writeManifest(ctx, j) })
		return
	}
}

func (s *Server) writeManifest(ctx context.Context, j protocol.Job) {
	m := s.manifests
	start := time.Now()
	info, err := manifestFor(ctx, j)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.busy = false
	log := s.log.With("job_id", j.ID)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		r := m.retry[j.ID]
		r.delay = min(max(2*r.delay, manifestRetryMin), manifestRetryMax)
		r.at = s.cfg.Clock().Add(r.delay)
		m.retry[j.ID] = r
		log.Warn("writing job manifest", "err", err, "retry_in", r.delay)
		return
	}
	m.done[j.ID] = true
	delete(m.retry, j.ID)
	if info.Rows > 0 {
		log.Info("job manifest written", "rows", info.Rows, "shards", info.Shards,
			"parquet_bytes", info.ParquetBytes, "seconds", time.Since(start).Seconds())
	}
}

// manifestFor writes a job's manifest unless one was written after the
// job was done (a rerun into the same output rewrites it; a new leader
// does not).
func manifestFor(ctx context.Context, j protocol.Job) (storage.ManifestInfo, error) {
	url := j.Spec.Output.URL
	if p, err := storage.LocalPath(url); err == nil {
		if _, err := os.Stat(p); err != nil { // never create an output folder here
			return storage.ManifestInfo{}, fmt.Errorf("output %s: %w", url, err)
		}
	}
	st, err := storage.Open(ctx, url)
	if err != nil {
		return storage.ManifestInfo{}, fmt.Errorf("opening output %s: %w", url, err)
	}
	defer st.Close()
	if done, err := storage.ManifestDone(ctx, st, "", j.UpdatedAt.Add(-time.Second)); err != nil || done {
		return storage.ManifestInfo{}, err
	}
	return storage.WriteManifest(ctx, st, "", j.Shards)
}
