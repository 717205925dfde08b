package coordinator

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestBoundedImages: at most n thumbnail reads run at once; a waiting one
// gives up with its request.
func TestBoundedImages(t *testing.T) {
	const n = 2
	var running, most atomic.Int32
	release := make(chan struct{})
	f := boundedImages(n, func(context.Context, protocol.Job, int, int) ([]byte, error) {
		cur := running.Add(1)
		for old := most.Load(); cur > old && !most.CompareAndSwap(old, cur); old = most.Load() {
		}
		<-release
		running.Add(-1)
		return []byte("png"), nil
	})
	var wg sync.WaitGroup
	for range n + 3 {
		wg.Go(func() {
			if _, err := f(context.Background(), protocol.Job{}, 0, 0); err != nil {
				t.Error(err)
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for running.Load() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := f(ctx, protocol.Job{}, 0, 0); err == nil {
		t.Error("a read waiting past its request's end did not give up")
	}
	close(release)
	wg.Wait()
	if got := most.Load(); got != n {
		t.Fatalf("%d reads ran at once, want at most (and here exactly) %d", got, n)
	}
}
