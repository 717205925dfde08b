package embedtest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
)

// FreeAddr is a loopback address nobody listens on yet, for a process or
// server a test starts next. Its port lies below the kernel's ephemeral
// range (ip_local_port_range), so between the pick and the bind no
// outgoing connection and no listener on port 0 can take it — in the
// chaos farm a coordinator's connection to etcd once took the Raft port
// picked for the next coordinator, which then failed to start. Where the
// range is unknown (not Linux), any free port.
func FreeAddr(t testing.TB) string {
	t.Helper()
	if lo := ephemeralLow(); lo > 4096 {
		span := min(lo-2048, 16384)
		for range 200 {
			if addr, ok := tryListen(fmt.Sprintf("127.0.0.1:%d", lo-1-rand.IntN(span))); ok {
				return addr
			}
		}
	}
	addr, ok := tryListen("127.0.0.1:0")
	if !ok {
		t.Fatal("no free loopback port")
	}
	return addr
}

// tryListen reports whether addr can be bound now, and the bound address.
func tryListen(addr string) (string, bool) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", false
	}
	defer l.Close()
	return l.Addr().String(), true
}

// ephemeralLow is the lowest port the kernel hands out on its own (0 if
// unknown).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil {
		return 0
	}
	return lo
}
