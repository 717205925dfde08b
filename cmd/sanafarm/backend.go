package main

import (
	"log/slog"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
)

// backendOptions selects and configures the compute backend of a command.
type backendOptions struct {
	name      string // "cpu" or "cuda"
	threads   int    // cpu: threads (0 = all)
	device    int    // cuda: device ordinal
	precision string // "auto" (or ""), "f32" or "bf16": see precision
	graphs    bool   // cuda: --cuda-graphs
}

// graphsUsage is the --cuda-graphs help text.
const graphsUsage = "cuda: capture each denoising step into a CUDA graph once per batch and replay it " +
	"(one launch per step instead of ~1,000; a failed capture falls back to running it op by op; docs/performance.md)"

// registerGraphs adds --cuda-graphs to fl.
func (o *backendOptions) registerGraphs(fl *pflag.FlagSet) {
	fl.BoolVar(&o.graphs, "cuda-graphs", false, graphsUsage)
}

// precisionUsage is the --precision help text.
const precisionUsage = "matrix-product precision: auto (bf16 on cuda, f32 on cpu), f32, or bf16 " +
	"(GEMM and convolution operands rounded to bf16, TF32 for float32 ones; norms and softmax stay float32)"

// precisionMode resolves --precision: auto means bf16 on cuda, where tensor
// cores make it the production mode, and f32 on cpu, where the bf16
// emulation is only slower.
func (o backendOptions) precisionMode() (kernels.Precision, error) {
	switch o.precision {
	case "", "auto":
		if o.name == "cuda" {
			return kernels.PrecisionBF16, nil
		}
		return kernels.PrecisionF32, nil
	}
	p, err := kernels.ParsePrecision(o.precision)
	if err != nil {
		return 0, usagef("flag --precision: %w, or auto", err)
	}
	return p, nil
}

// backendNames lists the backends compiled into this binary.
func backendNames() []string {
	if newCUDA == nil {
		return []string{"cpu"}
	}
	return []string{"cpu", "cuda"}
}

// newBackend returns the selected backend and a func that releases it.
func newBackend(o backendOptions) (kernels.Backend, func(), error) {
	p, err := o.precisionMode()
	if err != nil {
		return nil, nil, err
	}
	switch o.name {
	case "", "cpu":
		return cpu.New(cpu.Config{Threads: o.threads, Precision: p}), func() {}, nil
	case "cuda":
		if newCUDA == nil {
			return nil, nil, usagef("backend cuda: this binary was built without CUDA support (build with make build-cuda)")
		}
		return newCUDA(o.device, p, o.graphs)
	}
	return nil, nil, usagef("unknown backend %q (have %s)", o.name, strings.Join(backendNames(), ", "))
}

// logBackend records the backend a command computes on and its precision
// (results differ between f32 and bf16 runs, so logs must say which).
func logBackend(log *slog.Logger, be kernels.Backend, device int) {
	log.Info("compute backend", "backend", be.Name(), "device", device, "precision", kernels.PrecisionOf(be).String())
}
