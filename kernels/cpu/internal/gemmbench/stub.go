//go:build !openblas || !cgo

// Command gemmbench compares the CPU backend's sgemm with OpenBLAS. It
// needs cgo and libopenblas-dev; without them this stub explains how to
// build it, so `go build ./...` and `go vet ./...` keep working.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "gemmbench: build with CGO_ENABLED=1 go run -tags openblas ./kernels/cpu/internal/gemmbench (needs libopenblas-dev)")
	os.Exit(2)
}
