package backoff

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	cases := []struct {
		name    string
		p       Policy
		attempt int
		lo, hi  time.Duration
	}{
		{"first is base", Policy{Base: 100 * time.Millisecond, Max: time.Second}, 1, 100 * time.Millisecond, 100 * time.Millisecond},
		{"doubles", Policy{Base: 100 * time.Millisecond, Max: time.Second}, 3, 400 * time.Millisecond, 400 * time.Millisecond},
		{"capped", Policy{Base: 100 * time.Millisecond, Max: time.Second}, 10, time.Second, time.Second},
		{"huge attempt capped", Policy{Base: time.Second, Max: time.Minute}, 1 << 20, time.Minute, time.Minute},
		{"no cap, no overflow", Policy{Base: time.Hour}, 200, time.Hour, 1<<63 - 1},
		{"jitter ±25%", Policy{Base: time.Second, Max: time.Minute, Jitter: 0.25}, 1, 750 * time.Millisecond, 1250 * time.Millisecond},
		{"jitter within cap", Policy{Base: time.Second, Max: 2 * time.Second, Jitter: 0.5}, 5, time.Second, 2 * time.Second},
		{"zero base", Policy{}, 1, 0, time.Nanosecond},
		{"jitter clamped", Policy{Base: time.Second, Jitter: 7}, 1, 0, 2 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for range 200 {
				if d := c.p.Delay(c.attempt); d < c.lo || d > c.hi {
					t.Fatalf("Delay(%d) = %v, want within [%v, %v]", c.attempt, d, c.lo, c.hi)
				}
			}
		})
	}
}

func TestBackoffResetAndWait(t *testing.T) {
	b := Policy{Base: time.Millisecond, Max: 8 * time.Millisecond}.New()
	got := []time.Duration{b.Next(), b.Next(), b.Next(), b.Next(), b.Next()}
	want := []time.Duration{1, 2, 4, 8, 8}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", got, want)
		}
	}
	b.Reset()
	if d := b.Next(); d != time.Millisecond {
		t.Fatalf("after Reset: %v, want 1ms", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if (Policy{Base: time.Hour}).New().Wait(ctx) {
		t.Fatal("Wait on a cancelled context returned true")
	}
	if !Sleep(context.Background(), time.Microsecond) {
		t.Fatal("Sleep returned false")
	}
}

// TestStreak: a loss and the first failure of each run are warnings; the
// failures after it are not, until the thing is up again.
func TestStreak(t *testing.T) {
	var s Streak
	for i, c := range []struct {
		up   bool
		want slog.Level
	}{
		{false, slog.LevelWarn}, {false, slog.LevelDebug}, {false, slog.LevelDebug},
		{true, slog.LevelWarn}, {false, slog.LevelWarn}, {false, slog.LevelDebug},
		{true, slog.LevelWarn}, {true, slog.LevelWarn},
	} {
		if got := s.Level(c.up); got != c.want {
			t.Errorf("try %d (up %v): %v, want %v", i, c.up, got, c.want)
		}
	}
}
