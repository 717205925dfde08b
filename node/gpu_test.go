package node

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
)

func TestCUDAOrdinals(t *testing.T) {
	nvmlOrder := []protocol.GPUInfo{
		{Index: 0, UUID: "GPU-aaaa-0"}, {Index: 1, UUID: "GPU-bbbb-1"}, {Index: 2, UUID: "GPU-cccc-2"}, {Index: 3, UUID: "GPU-dddd-3"},
	}
	for _, c := range []struct {
		name    string
		visible string
		set     bool
		want    []string // UUIDs in CUDA ordinal order
	}{
		{"unset: all in NVML order", "", false, []string{"GPU-aaaa-0", "GPU-bbbb-1", "GPU-cccc-2", "GPU-dddd-3"}},
		{"indices reorder", "2,0", true, []string{"GPU-cccc-2", "GPU-aaaa-0"}},
		{"uuid prefixes", "GPU-dddd, bbbb", true, []string{"GPU-dddd-3", "GPU-bbbb-1"}},
		{"stops at an unknown entry", "1,9,2", true, []string{"GPU-bbbb-1"}},
		{"stops at a repeated gpu", "1,1,2", true, []string{"GPU-bbbb-1"}},
		{"empty hides all", "", true, nil},
		{"-1 hides all", "-1", true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := cudaOrdinals(nvmlOrder, c.visible, c.set)
			var uuids []string
			for i, g := range got {
				if g.Index != i {
					t.Errorf("GPU %s has index %d at CUDA ordinal %d", g.UUID, g.Index, i)
				}
				uuids = append(uuids, g.UUID)
			}
			if !slices.Equal(uuids, c.want) {
				t.Errorf("CUDA_VISIBLE_DEVICES=%q: %v, want %v", c.visible, uuids, c.want)
			}
		})
	}
}

func TestSelectGPUs(t *testing.T) {
	all := StaticGPUs{{Index: 0, Name: "a"}, {Index: 1, Name: "b"}, {Index: 2, Name: "c"}}
	for _, c := range []struct {
		devices []int
		want    []string
	}{
		{nil, []string{"a", "b", "c"}},
		{[]int{2, 0}, []string{"a", "c"}},
		{[]int{5}, nil},
	} {
		gpus, err := SelectGPUs(all, c.devices).GPUs(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, g := range gpus {
			names = append(names, g.Name)
		}
		if !slices.Equal(names, c.want) {
			t.Errorf("devices %v: %v, want %v", c.devices, names, c.want)
		}
	}
}

// TestProvenanceNamesTheGPU: a sample's provenance names the card by
// model and NVML UUID (PipelineConfig.GPU, GPUUUID); a CPU sample has
// neither key.
func TestProvenanceNamesTheGPU(t *testing.T) {
	for _, c := range []struct {
		meta sampleMeta
		want map[string]string
	}{
		{sampleMeta{GPU: "NVIDIA H100 80GB HBM3", GPUUUID: "GPU-8f3c"}, map[string]string{"gpu": "NVIDIA H100 80GB HBM3", "gpu_uuid": "GPU-8f3c"}},
		{sampleMeta{GPU: "cpu"}, map[string]string{"gpu": "cpu", "gpu_uuid": ""}},
	} {
		b, err := json.Marshal(c.meta)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		for k, v := range c.want {
			if s, _ := got[k].(string); s != v {
				t.Errorf("provenance %s = %q, want %q", k, s, v)
			}
		}
	}
}
