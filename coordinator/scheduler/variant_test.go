package scheduler

import (
	"slices"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestPickPrefersResidentLoRAVariant: a node that announces a job's
// (model, LoRA set) variant gets that job first among equals; a node with
// only the plain model, or another LoRA set, does not count as holding
// it; a preset's repo id alias works for variants too; and a GPU node
// with the base model resident may take a variant without free memory.
func TestPickPrefersResidentLoRAVariant(t *testing.T) {
	withLoRA := func(url string) func(*protocol.JobSpec) {
		return func(s *protocol.JobSpec) { s.LoRAs = []protocol.LoRA{{URL: url, Weight: 0.5}} }
	}
	variant := func(model, url string) string {
		s := protocol.JobSpec{Model: model}
		withLoRA(url)(&s)
		return s.VariantKey()
	}
	repo := "Efficient-Large-Model/Sana_600M_512px_diffusers" // m600's repo
	cases := []struct {
		name string
		node protocol.NodeInfo
		free int
		want []string
	}{
		{name: "exact variant resident", node: protocol.NodeInfo{ID: "n", Models: []string{variant(m600, "/l/a")}},
			free: 1, want: []string{"lora/0@1"}},
		{name: "variant via the preset's repo id", node: protocol.NodeInfo{ID: "n", Models: []string{variant(repo, "/l/a")}},
			free: 1, want: []string{"lora/0@1"}},
		{name: "plain model resident: the plain job", node: protocol.NodeInfo{ID: "n", Models: []string{m600}},
			free: 1, want: []string{"plain/0@1"}},
		{name: "another LoRA set: oldest job", node: protocol.NodeInfo{ID: "n", Models: []string{variant(m600, "/l/b")}},
			free: 1, want: []string{"plain/0@1"}},
		{name: "gpu node full but holding the base model", node: func() protocol.NodeInfo {
			n := gpuNode("n", 0)
			n.Models = []string{m600}
			return n
		}(), free: 2, want: []string{"plain/0@1", "lora/0@1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.node.Features = []string{protocol.FeatureJobInputs}
			st := newMemState()
			st.add("plain", 0, m600, 5, 0)
			withLoRA("/l/a")(&st.add("lora", 0, m600, 5, 1).job.Spec)
			got := keys(New(Config{}).Pick(st, protocol.LeaseRequest{Node: c.node, Free: c.free}, t0))
			if !slices.Equal(got, c.want) {
				t.Errorf("picked %v, want %v", got, c.want)
			}
		})
	}
}

// TestLoRAJobNeedsFeature: a node that does not announce
// FeatureJobInputs (an earlier release, which would ignore the fields)
// gets no LoRA job, and Placeable says why.
func TestLoRAJobNeedsFeature(t *testing.T) {
	st := newMemState()
	j := st.add("lora", 0, tiny, 5, 0)
	j.job.Spec.LoRAs = []protocol.LoRA{{URL: "/l/a"}}
	s := New(Config{})
	old := cpuNode("old")
	if got := s.Pick(st, protocol.LeaseRequest{Node: old, Free: 1}, t0); len(got) != 0 {
		t.Errorf("old node got %v", keys(got))
	}
	if err := s.Placeable(st, j.job, old); err == nil || !strings.Contains(err.Error(), protocol.FeatureJobInputs) {
		t.Errorf("Placeable = %v", err)
	}
	cur := cpuNode("new")
	cur.Features = []string{protocol.FeatureJobInputs}
	if got := keys(s.Pick(st, protocol.LeaseRequest{Node: cur, Free: 1}, t0)); !slices.Equal(got, []string{"lora/0@1"}) {
		t.Errorf("new node got %v", got)
	}
}

// TestNVlabsJobMemory: an NVlabs job's memory is estimated from its
// checkpoint's file name.
func TestNVlabsJobMemory(t *testing.T) {
	spec := protocol.JobSpec{Config: "/c.yaml", Checkpoint: "hf://Efficient-Large-Model/Sana_1600M_4Kpx_BF16/checkpoints/Sana_1600M_4Kpx_BF16.pth"}
	if got, want := memoryName(spec), "Sana_1600M_4Kpx_BF16"; got != want {
		t.Fatalf("memoryName = %q, want %q", got, want)
	}
	if got, want := ModelMemory(memoryName(spec)), ModelMemory("org/Sana_1600M_4Kpx_BF16_diffusers"); got != want || got <= memUnknown {
		t.Errorf("memory %d GiB, want %d GiB", got>>30, want>>30)
	}
}
