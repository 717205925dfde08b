package golden

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels/cpu"
)

// TestControlNetCases runs the SanaControlNetModel module case and the
// SanaControlNetPipeline case: every result line passes.
func TestControlNetCases(t *testing.T) {
	r := &Runner{Backend: cpu.New(cpu.Config{})}
	for name, lines := range map[string]int{"controlnet_sana": 1, "pipeline_controlnet": 6} {
		res := r.Run(context.Background(), os.DirFS(filepath.Join(goldenDir, name)), name)
		if len(res) != lines {
			t.Errorf("%s: %d results, want %d: %v", name, len(res), lines, res)
		}
		for _, x := range res {
			t.Log(x)
			if !x.Pass() || !strings.HasPrefix(x.String(), "PASS "+name) {
				t.Errorf("%s: %v", name, x)
			}
		}
	}
}

// TestControlNetCaseDetectsScale runs the module case with another
// conditioning scale in its README: it must FAIL.
func TestControlNetCaseDetectsScale(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(goldenDir, "controlnet_sana"))); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "README.md"), 0o644)
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("conditioning_scale=0.8"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &Runner{Backend: cpu.New(cpu.Config{})}
	for _, x := range r.Run(context.Background(), os.DirFS(dir), "drift") {
		if x.Pass() {
			t.Errorf("conditioning scale 0.8 passed: %v", x)
		}
	}
}
