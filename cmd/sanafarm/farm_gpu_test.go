package main

import (
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
)

func TestGPUModel(t *testing.T) {
	gpus := []protocol.GPUInfo{{Index: 0, Name: "NVIDIA H100 80GB HBM3"}, {Index: 1, Name: "NVIDIA L4"}}
	for _, c := range []struct {
		backend string
		device  int
		gpus    []protocol.GPUInfo
		want    string
	}{
		{"", 0, gpus, "cpu"},
		{"cpu", 0, nil, "cpu"},
		{"cuda", 0, gpus, "NVIDIA H100 80GB HBM3"},
		{"cuda", 1, gpus, "NVIDIA L4"},
		{"cuda", 5, gpus, "NVIDIA H100 80GB HBM3"},
		{"cuda", 0, nil, ""},
	} {
		if got := gpuModel(c.backend, c.device, c.gpus); got != c.want {
			t.Errorf("gpuModel(%q, %d) = %q, want %q", c.backend, c.device, got, c.want)
		}
	}
}
