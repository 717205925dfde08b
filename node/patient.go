package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/sanafarm/sanafarm/internal/backoff"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// DefaultStorePatience is PipelineConfig.StorePatience's default.
const DefaultStorePatience = 5 * time.Minute

// patience keeps a shard going through an output store outage longer
// than the store's own retries (an S3 endpoint down or hung for
// minutes): an operation that fails for a transient reason is tried
// again, with backoff, until the patience has passed since the first
// failure or the task ends (lease lost, drain); the node heartbeats the
// task meanwhile. Without it the shard fails, its rendering is thrown
// away, and since every node shares the store, an outage of a few minutes
// would strike every node of the job and use up its attempts
// (docs/architecture.md §6). A node that alone cannot reach the store
// still fails its shards, only later. The window is the shard's, not each
// operation's: it opens at the shard's first such failure, so a flapping
// store cannot hold a slot for patience × operations. One operation's own
// tries (storage.S3Config: MaxAttempts, each up to the stall timeout) may
// still run past it once.
type patience struct {
	d      time.Duration
	policy backoff.Policy
	log    *slog.Logger

	mu     sync.Mutex
	giveUp time.Time // zero until the first failure
}

// patience is a new window of the executor's: StorePatience, waits from
// 2 s (retryBase in tests) to 30 s. Each shard has its own (patienceFor).
func (e *PipelineExecutor) patience() *patience {
	d := e.cfg.StorePatience
	if d <= 0 {
		d = DefaultStorePatience
	}
	base := e.retryBase
	if base <= 0 {
		base = 2 * time.Second
	}
	return &patience{d: d, log: e.log, policy: backoff.Policy{Base: base, Max: 15 * base, Jitter: 0.5}}
}

// patienceFor is the window of a's shard (every operation of the attempt
// shares it); forget drops it when the attempt's Execute returns.
func (e *PipelineExecutor) patienceFor(a protocol.Assignment) (p *patience, forget func()) {
	k := protocol.TaskAttempt{TaskKey: a.Task.TaskKey, Attempt: a.Task.Attempt}
	v, ok := e.patiences.Load(k)
	if !ok {
		v, _ = e.patiences.LoadOrStore(k, e.patience())
	}
	return v.(*patience), func() { e.patiences.Delete(k) }
}

// deadline opens the window at the first failure and returns its end.
func (p *patience) deadline() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.giveUp.IsZero() {
		p.giveUp = time.Now().Add(p.d)
	}
	return p.giveUp
}

// do runs fn until it succeeds, fails for good, or patience runs out.
func (p *patience) do(ctx context.Context, what string, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !storage.Transient(err) || ctx.Err() != nil {
			return err
		}
		wait := p.policy.Delay(attempt)
		if time.Now().Add(wait).After(p.deadline()) {
			return fmt.Errorf("%w (the store stayed unavailable for %s)", err, p.d)
		}
		p.log.Warn("store unavailable: keeping the shard and trying again", "what", what, "wait", wait, "err", err)
		if !backoff.Sleep(ctx, wait) {
			return err
		}
	}
}

// patientPutter is a Putter whose Puts have patience. Only rewindable
// content is tried again.
type patientPutter struct {
	storage.Putter
	*patience
}

func (p patientPutter) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	rewind := rewinder(r)
	if rewind == nil {
		return p.Putter.Put(ctx, key, r)
	}
	var n int64
	tries := 0
	err := p.do(ctx, key, func() error {
		if tries++; tries > 1 {
			if err := rewind(); err != nil {
				return fmt.Errorf("rewinding %s for another try: %w", key, err)
			}
		}
		var err error
		n, err = p.Putter.Put(ctx, key, r)
		return err
	})
	return n, err
}

// rewinder returns a function that puts r back where it is now, or nil
// when r cannot be (a stream).
func rewinder(r io.Reader) func() error {
	if lr, ok := r.(*io.LimitedReader); ok {
		s, ok := lr.R.(io.Seeker)
		if !ok {
			return nil
		}
		off, err := s.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil
		}
		n := lr.N
		return func() error {
			lr.N = n
			_, err := s.Seek(off, io.SeekStart)
			return err
		}
	}
	s, ok := r.(io.Seeker)
	if !ok {
		return nil
	}
	off, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil
	}
	return func() error {
		_, err := s.Seek(off, io.SeekStart)
		return err
	}
}
