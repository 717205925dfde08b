package cpu_test

import (
	"fmt"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/kernels/kernelstest"
)

// TestConformance runs the backend conformance suite on the SIMD and the
// portable kernels, single- and multi-threaded.
func TestConformance(t *testing.T) {
	for _, c := range []cpu.Config{{}, {NoSIMD: true}, {Threads: 1}, {Threads: 3, NoSIMD: true}} {
		t.Run(fmt.Sprintf("threads=%d,nosimd=%v", c.Threads, c.NoSIMD), func(t *testing.T) {
			kernelstest.Run(t, func(t *testing.T) kernels.Backend { return cpu.New(c) })
		})
	}
}
