package embedtest

import (
	"net"
	"strconv"
	"testing"
)

// TestFreeAddr: the address is loopback, bindable, below the ephemeral
// range when the kernel says where that is, and never the same twice.
func TestFreeAddr(t *testing.T) {
	lo := ephemeralLow()
	seen := map[string]bool{}
	for range 200 {
		addr := FreeAddr(t) // none bound in between: the picks must still differ
		if seen[addr] {
			t.Fatalf("FreeAddr handed out %s twice", addr)
		}
		seen[addr] = true
		host, p, err := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(p)
		if err != nil || host != "127.0.0.1" || port == 0 {
			t.Fatalf("FreeAddr = %q", addr)
		}
		if lo > 4096 && port >= lo {
			t.Errorf("port %d is in the ephemeral range from %d", port, lo)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("binding %s: %v", addr, err)
		}
		l.Close()
	}
}
