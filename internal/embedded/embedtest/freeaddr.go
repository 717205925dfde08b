package embedtest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync/atomic"
	"testing"
)

// FreeAddr is a loopback address nobody listens on yet, for a process or
// server a test starts next. Two things could take its port between the
// pick and the bind, and both happened in the chaos farm, whose
// coordinators failed to start on "address already in use":
//   - an outgoing connection of another process, which the kernel gives a
//     port of its ephemeral range (ip_local_port_range): so the ports lie
//     below that range, where nothing takes them unasked;
//   - another pick of this process: two random picks may return the same
//     port while neither is bound yet, so the picks go round the range in
//     turn (nextPort) and none repeats until the range is used up.
//
// Where the range is unknown (not Linux), any free port the kernel gives.
func FreeAddr(t testing.TB) string {
	t.Helper()
	if lo := ephemeralLow(); lo > 4096 {
		span := min(lo-2048, 16384)
		for range 200 {
			port := lo - span + int(nextPort.Add(1)%int64(span))
			if addr, ok := tryListen(fmt.Sprintf("127.0.0.1:%d", port)); ok {
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

// nextPort is where FreeAddr's picks go round from: process-wide, since
// picks must not repeat across the tests and helpers of one process, and
// started at random, so that test processes running side by side (go test
// runs packages at once) start far apart.
var nextPort = func() *atomic.Int64 {
	var n atomic.Int64
	n.Store(rand.Int64N(1 << 20))
	return &n
}()

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
