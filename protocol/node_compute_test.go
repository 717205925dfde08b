package protocol

import "testing"

func TestNodeInfoCompute(t *testing.T) {
	for _, c := range []struct {
		info NodeInfo
		want string
	}{
		{NodeInfo{Backend: "cpu"}, "cpu"},
		{NodeInfo{Backend: "cpu", Precision: "f32"}, "cpu · f32"},
		{NodeInfo{Backend: "cuda", Precision: "bf16", CUDAGraphs: true}, "cuda · bf16 · graphs"},
		{NodeInfo{Backend: "cuda", CUDAGraphs: true}, "cuda · graphs"},
	} {
		if got := c.info.Compute(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.info, got, c.want)
		}
	}
}
