package golden

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels/cpu"
)

// TestPAGCase runs the SanaPAGPipeline golden case: every run (main with
// CFG, adaptive scale, no CFG, PAG off) passes per step and at the end.
func TestPAGCase(t *testing.T) {
	expectCasePasses(t, "pipeline_pag", 8) // adaptive 2, main 3 (with decode), nocfg 2, nopag 1
}

// TestPAGCaseDetectsWrongBlocks perturbs block 1 instead of blocks 0 and
// 2: the guided runs must FAIL (the PAG branch is really compared).
func TestPAGCaseDetectsWrongBlocks(t *testing.T) {
	dir := copyCase(t, "pipeline_pag")
	js := `{"pag_applied_layers": ["transformer_blocks.1"], "runs": {"main": {"guidance_scale": 4.5, "num_inference_steps": 5, "pag_scale": 3.0}}}`
	if err := os.WriteFile(filepath.Join(dir, "call.json"), []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &Runner{Backend: cpu.New(cpu.Config{})}
	for _, x := range r.Run(context.Background(), os.DirFS(dir), "drift") {
		if strings.HasSuffix(x.Case, "[latents]") && x.Pass() {
			t.Errorf("PAG on block 1 passed: %v", x)
		}
	}
}
