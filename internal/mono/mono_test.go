package mono

import (
	"strings"
	"testing"
	"time"
)

// TestClock: stamps count on the monotonic clock (the start carries a
// monotonic reading, which time.Time prints as "m="), never 0, and Since
// measures what passed.
func TestClock(t *testing.T) {
	c := New()
	if !strings.Contains(c.start.String(), " m=") {
		t.Fatalf("start %v has no monotonic reading: stamps would follow the wall clock", c.start)
	}
	a := c.Now()
	if a < 1 {
		t.Fatalf("first stamp %d, want ≥ 1", a)
	}
	time.Sleep(20 * time.Millisecond)
	if d := c.Since(a); d < 20*time.Millisecond || d > 10*time.Second {
		t.Fatalf("Since a stamp 20 ms old: %v", d)
	}
	if b := c.Now(); b <= a {
		t.Fatalf("stamps not increasing: %d then %d", a, b)
	}
}
