package golden

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels/cpu"
)

// TestNVlabsCheckpoint: a transformer case with only an NVlabs .pth (no
// model.safetensors) runs through the pth reader and the key mapping and
// matches diffusers' output of its own conversion script.
func TestNVlabsCheckpoint(t *testing.T) {
	r := &Runner{Backend: cpu.New(cpu.Config{})}
	res := r.Run(context.Background(), os.DirFS(filepath.Join(goldenDir, "nvlabs_checkpoint")), "nvlabs_checkpoint")
	if len(res) != 1 || !res[0].Pass() || !strings.HasPrefix(res[0].String(), "PASS nvlabs_checkpoint ") {
		t.Fatalf("%v", res)
	}
	t.Log(res[0])
}

// TestNVlabsCheckpointHostile: a case whose .pth is refused reports the
// reader's error (naming the file), not a pass or a panic.
func TestNVlabsCheckpointHostile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(goldenDir, "nvlabs_checkpoint")
	for _, f := range []string{"config.json", "inputs.safetensors", "outputs.safetensors"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	os.WriteFile(filepath.Join(dir, nvlabsCheckpoint), []byte("\x80\x02cos\nsystem\n."), 0o644)
	r := &Runner{Backend: cpu.New(cpu.Config{})}
	res := r.Run(context.Background(), os.DirFS(dir), "hostile")
	if len(res) != 1 || res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "pth checkpoint.pth: not a zip archive") {
		t.Fatalf("%v", res)
	}
}

// TestNVlabsCheckpointStrict: a config with fewer blocks than the .pth
// leaves block 1's tensors unused, which is an error naming them (as
// diffusers' strict load), not a silent pass on part of the weights.
func TestNVlabsCheckpointStrict(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(goldenDir, "nvlabs_checkpoint")
	for _, f := range []string{"config.json", "inputs.safetensors", "outputs.safetensors", nvlabsCheckpoint} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "config.json" {
			b = []byte(strings.Replace(string(b), `"num_layers": 2`, `"num_layers": 1`, 1))
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	r := &Runner{Backend: cpu.New(cpu.Config{})}
	res := r.Run(context.Background(), os.DirFS(dir), "fewer-layers")
	if len(res) != 1 || res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "tensors the configured model does not use") ||
		!strings.Contains(res[0].Err.Error(), "transformer_blocks.1.attn1.to_q.weight") {
		t.Fatalf("%v", res)
	}
}
