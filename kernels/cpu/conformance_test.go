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

// TestConformanceBF16 runs the suite on the bf16-mode emulation, whose
// products with 16-bit weights round the activation (precision.go); the
// suite switches to its bf16 tolerances (kernelstest/bf16.go).
func TestConformanceBF16(t *testing.T) {
	for _, c := range []cpu.Config{{}, {Threads: 3, NoSIMD: true}} {
		c.Precision = kernels.PrecisionBF16
		t.Run(fmt.Sprintf("threads=%d,nosimd=%v", c.Threads, c.NoSIMD), func(t *testing.T) {
			kernelstest.Run(t, func(t *testing.T) kernels.Backend { return cpu.New(c) })
		})
	}
}
