package embedtest

import (
	"net"
	"strconv"
	"testing"
)

// TestFreeAddr: the address is loopback, bindable, and below the
// ephemeral range when the kernel says where that is.
func TestFreeAddr(t *testing.T) {
	lo := ephemeralLow()
	for range 20 {
		addr := FreeAddr(t)
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
