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
	"github.com/sanafarm/sanafarm/model/nvlabs"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestExecutorNVlabsPreset: a job naming an NVlabs preset runs as its
// expanded spec. Its built-in config needs no --allow-read entry (it is in
// the binary), is hashed under its builtin: reference and sets the default
// size; the preset's hf:// checkpoint is fetched through the Hub cache
// (offline here: the error names it).
func TestExecutorNVlabsPreset(t *testing.T) {
	t.Setenv("SANAFARM_CACHE", t.TempDir())
	ckPath, _ := filepath.Abs("../testdata/golden/nvlabs_checkpoint/checkpoint.pth")
	exec := NewPipelineExecutor(PipelineConfig{Allow: testAllow(os.TempDir(), filepath.Dir(ckPath)),
		Models: &ModelResolver{CacheRoot: t.TempDir(), Hub: &hub.Config{CacheDir: t.TempDir(), Offline: true}}, Logger: testLogger(t)})
	defer exec.Close()
	spec := tinySpec(t.TempDir(), "a red fox")
	spec.Model, spec.Width, spec.Height = "sana-600m-512-nvlabs", 0, 0
	spec = spec.ExpandPreset()
	if err := spec.Validate(); err != nil || !nvlabs.IsBuiltin(spec.Config) {
		t.Fatalf("%+v: %v", spec, err)
	}
	if _, err := exec.readInputs(context.Background(), spec); err == nil || !strings.Contains(err.Error(), "Sana_600M_512px.pth") {
		t.Errorf("offline preset checkpoint: %v", err)
	}

	// With a checkpoint on the node, the built-in config is read and hashed.
	preset, _ := protocol.LookupPreset("sana-600m-512-nvlabs")
	spec.Checkpoint = ckPath
	in, err := exec.readInputs(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := nvlabs.Builtin(preset.Config)
	sum := sha256.Sum256(b)
	w := in.nvlabs.facts.Weights
	if len(w) != 2 || w[0].Path != preset.Config || w[0].SHA256 != hex.EncodeToString(sum[:]) || in.nvlabs.size != 512 {
		t.Errorf("facts %+v, size %d", w, in.nvlabs.size)
	}
}
