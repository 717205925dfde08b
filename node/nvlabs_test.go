package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/model/hub"
	"github.com/sanafarm/sanafarm/storage"
)

// TestExecutorNVlabsInputs: an NVlabs job (config + checkpoint, no
// model) hashes both files into its request hash and provenance facts,
// takes the config's image_size as its default size, refuses files
// outside --allow-read naming the field, and reaches sana.OpenNVlabs (here
// failing, offline, on the text encoder the YAML names).
func TestExecutorNVlabsInputs(t *testing.T) {
	cfgPath, _ := filepath.Abs("../model/nvlabs/testdata/sana_1600m_1024.yaml")
	ckPath, _ := filepath.Abs("../testdata/golden/nvlabs_checkpoint/checkpoint.pth")
	exec := NewPipelineExecutor(PipelineConfig{Allow: testAllow(os.TempDir(), filepath.Dir(cfgPath), filepath.Dir(ckPath)),
		Models: &ModelResolver{CacheRoot: t.TempDir(), Hub: &hub.Config{CacheDir: t.TempDir(), Offline: true}}, Logger: testLogger(t)})
	defer exec.Close()
	spec := tinySpec(t.TempDir(), "a red fox")
	spec.Model, spec.Width, spec.Height, spec.Config, spec.Checkpoint = "", 0, 0, "file://"+cfgPath, ckPath
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	in, err := exec.readInputs(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	sum := func(p string) string {
		b, _ := os.ReadFile(p)
		h := sha256.Sum256(b)
		return hex.EncodeToString(h[:])
	}
	w := in.nvlabs.facts.Weights
	if len(w) != 2 || w[0].Path != spec.Config || w[0].SHA256 != sum(cfgPath) || w[1].Path != ckPath || w[1].SHA256 != sum(ckPath) {
		t.Errorf("facts %+v", w)
	}
	m, facts, err := exec.resolve(context.Background(), spec, in)
	if err != nil {
		t.Fatal(err)
	}
	plan := newPlan(assignment(spec, "j-nv", 0, 1), []storage.PromptRow{{Prompt: "a red fox"}}, m, facts, in)
	g := plan.request(plan.samples[0])
	if len(g.NVlabsFile) != 2 || !strings.HasSuffix(g.NVlabsFile[1], sum(ckPath)) || plan.base.Width != 1024 || plan.base.Steps != 2 {
		t.Errorf("request %+v, base %dx%d steps %d", g, plan.base.Width, plan.base.Height, plan.base.Steps)
	}

	_, err = exec.Execute(context.Background(), assignment(spec, "j-nv", 0, 1), func(int) {})
	if err == nil || !strings.Contains(err.Error(), "text encoder google/gemma-2-2b-it") {
		t.Errorf("offline load: %v", err)
	}
	spec.Checkpoint = "/etc/x.pth"
	if _, err = exec.Execute(context.Background(), assignment(spec, "j-nv", 0, 1), func(int) {}); err == nil ||
		!strings.Contains(err.Error(), "checkpoint") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("checkpoint outside --allow-read: %v", err)
	}
}
