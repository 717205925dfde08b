//go:build cuda

package main

import (
	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cuda"
)

// newCUDA opens the CUDA backend on device in precision p, recording
// denoising steps into CUDA graphs when graphs is set (cuda-tagged builds
// only).
var newCUDA = func(device int, p kernels.Precision, graphs bool) (kernels.Backend, func(), error) {
	be, err := cuda.New(cuda.Config{Device: device, Precision: p, Graphs: graphs})
	if err != nil {
		return nil, nil, err
	}
	return be, func() { _ = be.Close() }, nil
}
