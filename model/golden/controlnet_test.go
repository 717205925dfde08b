package golden

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sanafarm/sanafarm/kernels/cpu"
)

// TestControlNetCases runs the SanaControlNetModel module case and the
// SanaControlNetPipeline case: every result line passes.
func TestControlNetCases(t *testing.T) {
	expectCasePasses(t, "controlnet_sana", 1)
	expectCasePasses(t, "pipeline_controlnet", 6)
}

// TestControlNetCaseDetectsScale runs the module case with another
// conditioning scale in its README: it must FAIL.
func TestControlNetCaseDetectsScale(t *testing.T) {
	dir := copyCase(t, "controlnet_sana")
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
