package syncbuf

import (
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentWrites: writers racing with readers lose no byte, and
// Tail cuts the front.
func TestConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprintf(&b, "%d", i)
				_ = b.Tail(4)
			}
		})
	}
	wg.Wait()
	if n := len(b.String()); n != 800 {
		t.Fatalf("%d bytes, want 800", n)
	}
	for _, c := range []struct {
		n    int
		want string
	}{{3, "…xyz"}, {26, "abcdefghijklmnopqrstuvwxyz"}, {100, "abcdefghijklmnopqrstuvwxyz"}} {
		var s Buffer
		s.Write([]byte("abcdefghijklmnopqrstuvwxyz"))
		if got := s.Tail(c.n); got != c.want {
			t.Errorf("Tail(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
