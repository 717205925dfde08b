package node

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff waits exponentially longer (with jitter) between retries.
type backoff struct {
	base, max, next time.Duration
}

func newBackoff(base, maxWait time.Duration) *backoff {
	return &backoff{base: base, max: max(maxWait, base), next: base}
}

// wait sleeps the next delay (±25 % jitter); false if ctx ended first.
func (b *backoff) wait(ctx context.Context) bool {
	d := b.next
	d += time.Duration(rand.Int64N(int64(d)/2+1)) - d/4
	b.next = min(2*b.next, b.max)
	return sleep(ctx, d)
}

func (b *backoff) reset() { b.next = b.base }

// sleep waits d; false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
