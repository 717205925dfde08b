package testcluster

import (
	"context"
	"sync"
	"time"

	"github.com/sanafarm/sanafarm/node"
	"github.com/sanafarm/sanafarm/protocol"
)

// Fixture is an executor with a fixed delay per shard and no model: it
// measures the control plane alone. Use it only in scheduler and
// benchmark tests; end-to-end tests and `sanafarm dev` run the real
// pipeline.
type Fixture struct {
	// Delay is how long each shard takes.
	Delay time.Duration

	mu     sync.Mutex
	starts []Execution
}

// Execution is one Execute call as the fixture saw it.
type Execution struct {
	Task    protocol.TaskKey
	Attempt int
	At      time.Time
}

var _ node.Executor = (*Fixture)(nil)

// Execute waits Delay (or ctx) and reports every sample done.
func (f *Fixture) Execute(ctx context.Context, a protocol.Assignment, progress func(done int)) (protocol.ShardInfo, error) {
	f.mu.Lock()
	f.starts = append(f.starts, Execution{Task: a.Task.TaskKey, Attempt: a.Task.Attempt, At: time.Now()})
	f.mu.Unlock()
	t := time.NewTimer(f.Delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return protocol.ShardInfo{}, ctx.Err()
	case <-t.C:
	}
	n := int(a.Task.End - a.Task.Start)
	progress(n)
	return protocol.ShardInfo{Images: n, Seconds: f.Delay.Seconds()}, nil
}

// Starts returns the Execute calls so far, in order.
func (f *Fixture) Starts() []Execution {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Execution(nil), f.starts...)
}
