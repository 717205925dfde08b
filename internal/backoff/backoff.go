// Package backoff is the one retry delay policy of the project: exponential
// growth from a base to a cap, with jitter, and a context-aware wait. The
// node's lease and report loops, the Hugging Face Hub client and the S3 store
// use it with the base, cap and jitter each needs (many nodes retrying one
// coordinator or one bucket must not retry in step, hence the jitter).
package backoff

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Policy is a delay schedule. The zero Jitter gives exact doubling.
type Policy struct {
	// Base is the delay after the first failure (at least 1 ns is used).
	Base time.Duration
	// Max caps every delay, jitter included (0 = no cap).
	Max time.Duration
	// Jitter spreads each delay d uniformly over [d·(1−Jitter), d·(1+Jitter)]
	// (0..1; values outside are clamped).
	Jitter float64
}

// Delay is the wait after the attempt-th consecutive failure (attempt ≥ 1):
// Base·2^(attempt−1), jittered, capped at Max.
func (p Policy) Delay(attempt int) time.Duration {
	d := max(p.Base, 1)
	for i := 1; i < attempt && (p.Max <= 0 || d < p.Max) && d <= math.MaxInt64/4; i++ {
		d *= 2 // stops at the cap, and well before overflow (jitter adds up to d)
	}
	if j := min(max(p.Jitter, 0), 1); j > 0 && d > 0 {
		spread := time.Duration(float64(d) * j)
		d += rand.N(2*spread+1) - spread
	}
	if p.Max > 0 {
		d = min(d, p.Max)
	}
	return max(d, 0)
}

// Backoff counts consecutive failures of one loop.
type Backoff struct {
	p        Policy
	failures int
}

// New starts a schedule at its first delay.
func (p Policy) New() *Backoff { return &Backoff{p: p} }

// Next returns the next delay and advances the schedule.
func (b *Backoff) Next() time.Duration {
	b.failures++
	return b.p.Delay(b.failures)
}

// Wait sleeps the next delay; false when ctx ended first.
func (b *Backoff) Wait(ctx context.Context) bool { return Sleep(ctx, b.Next()) }

// Reset starts the schedule over (after a success).
func (b *Backoff) Reset() { b.failures = 0 }

// Sleep waits d; false when ctx ended first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
