//go:build !cuda

package main

import "github.com/sanafarm/sanafarm/kernels"

// newCUDA is nil: this binary has no CUDA backend.
var newCUDA func(device int, p kernels.Precision, graphs bool) (kernels.Backend, func(), error)
