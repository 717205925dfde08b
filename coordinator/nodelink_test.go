package coordinator

import (
	"log/slog"
	"testing"
	"time"
)

// TestClockStepGivesGrace: a step of the leader's wall clock (wall time
// and monotonic time elapsed apart by more than maxClockStep between two
// ticks), forward or back, restarts the leases' grace from now, as the
// link coming back does; a clock that only moves on, or a fake clock
// without a monotonic reading, does not.
func TestClockStepGivesGrace(t *testing.T) {
	var monoNs int64 = 1
	elected := time.Now() // carries a monotonic reading, as the leader's clock does
	l := &nodeLink{since: elected, log: slog.New(slog.DiscardHandler), monoNow: func() int64 { return monoNs }}
	tick := func(wall, mono time.Duration) time.Time {
		monoNs += int64(mono)
		now := elected.Add(wall)
		if _, since := l.observe(now); !since.Equal(l.since) {
			t.Fatalf("observe returned %v, the link holds %v", since, l.since)
		}
		return now
	}
	tick(0, 0)
	tick(time.Second, time.Second)
	tick(2*time.Second, 900*time.Millisecond) // NTP slewing: a little apart
	if !l.since.Equal(elected) {
		t.Fatalf("grace restarted without a step: since %v", l.since)
	}
	stepped := tick(time.Hour+3*time.Second, time.Second)
	if !l.since.Equal(stepped) {
		t.Fatalf("after a step forward of an hour: since %v, want %v", l.since, stepped)
	}
	back := tick(time.Hour-time.Minute, time.Second)
	if !l.since.Equal(back) {
		t.Fatalf("after a step back: since %v, want %v", l.since, back)
	}
	tick(time.Hour, time.Minute)
	if !l.since.Equal(back) {
		t.Fatalf("a minute on both clocks counted as a step: since %v", l.since)
	}

	fake := &nodeLink{since: time.Unix(1000, 0), log: slog.New(slog.DiscardHandler), monoNow: func() int64 { return 1 }}
	fake.observe(time.Unix(1000, 0))
	if _, since := fake.observe(time.Unix(5000, 0)); !since.Equal(time.Unix(1000, 0)) {
		t.Fatalf("a fake clock (no monotonic reading) jumping ahead counted as a step: since %v", since)
	}
}
