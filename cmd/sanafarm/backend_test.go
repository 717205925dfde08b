package main

import (
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

func TestPrecisionFlag(t *testing.T) {
	cases := []struct {
		backend, precision string
		want               kernels.Precision
		err                string // substring of the error; "" = none
	}{
		{"cpu", "", kernels.PrecisionF32, ""},
		{"cpu", "auto", kernels.PrecisionF32, ""},
		{"", "auto", kernels.PrecisionF32, ""},
		{"cuda", "auto", kernels.PrecisionBF16, ""},
		{"cuda", "", kernels.PrecisionBF16, ""},
		{"cuda", "f32", kernels.PrecisionF32, ""},
		{"cpu", "bf16", kernels.PrecisionBF16, ""},
		{"cpu", "f32", kernels.PrecisionF32, ""},
		{"cpu", "fp16", 0, `flag --precision: precision "fp16": want f32 or bf16, or auto`},
		{"cuda", "BF16", 0, `--precision: precision "BF16"`},
		{"cpu", "tf32", 0, `--precision: precision "tf32"`},
	}
	for _, c := range cases {
		t.Run(c.backend+"/"+c.precision, func(t *testing.T) {
			got, err := backendOptions{name: c.backend, precision: c.precision}.precisionMode()
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

// TestNewBackendPrecision: the cpu backend gets the resolved precision,
// and a bad value fails before any backend is made.
func TestNewBackendPrecision(t *testing.T) {
	for _, c := range []struct {
		precision string
		want      kernels.Precision
	}{{"auto", kernels.PrecisionF32}, {"f32", kernels.PrecisionF32}, {"bf16", kernels.PrecisionBF16}} {
		be, closeBackend, err := newBackend(backendOptions{name: "cpu", threads: 1, precision: c.precision})
		if err != nil {
			t.Fatalf("%s: %v", c.precision, err)
		}
		if got := kernels.PrecisionOf(be); got != c.want {
			t.Errorf("--precision %s: backend precision %v, want %v", c.precision, got, c.want)
		}
		closeBackend()
	}
	if _, _, err := newBackend(backendOptions{name: "cpu", precision: "half"}); err == nil || !strings.Contains(err.Error(), `--precision: precision "half"`) {
		t.Errorf("bad precision: error %v", err)
	}
}
