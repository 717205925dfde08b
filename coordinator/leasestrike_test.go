package coordinator

import (
	"testing"
	"time"
)

func TestLeaseStrike(t *testing.T) {
	elected := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	ttl := 10 * time.Second
	for _, c := range []struct {
		after time.Duration
		want  bool
	}{
		{0, false}, {ttl, false}, {3 * ttl, false}, {3*ttl + time.Millisecond, true}, {time.Hour, true},
	} {
		if got := leaseStrike(elected.Add(c.after), elected, ttl); got != c.want {
			t.Errorf("expiry %v after the election: strike %v, want %v", c.after, got, c.want)
		}
	}
}
