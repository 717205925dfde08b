package main

import (
	"fmt"
	"strings"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
)

// backendOptions selects and configures the compute backend of a command.
type backendOptions struct {
	name    string // "cpu" or "cuda"
	threads int    // cpu: threads (0 = all)
	device  int    // cuda: device ordinal
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
	switch o.name {
	case "", "cpu":
		return cpu.New(cpu.Config{Threads: o.threads}), func() {}, nil
	case "cuda":
		if newCUDA == nil {
			return nil, nil, fmt.Errorf("backend cuda: this binary was built without CUDA support (build with make build-cuda)")
		}
		return newCUDA(o.device)
	}
	return nil, nil, fmt.Errorf("unknown backend %q (have %s)", o.name, strings.Join(backendNames(), ", "))
}
