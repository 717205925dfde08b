package golden

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels/cpu"
)

// TestSprintCases runs the SanaSprintPipeline golden cases: every result
// line (schedule, per-step transformer output and samples, decode) passes.
func TestSprintCases(t *testing.T) {
	expectCasePasses(t, "pipeline_sprint", 5)
	expectCasePasses(t, "pipeline_sprint_img2img", 6)
}

// TestSprintCaseDetectsDrift changes the case's σ_d: the replay must FAIL
// (the comparison is not vacuous).
func TestSprintCaseDetectsDrift(t *testing.T) {
	dir := copyCase(t, "pipeline_sprint")
	cfg := filepath.Join(dir, "scheduler", "scheduler_config.json")
	js := `{"_class_name": "SCMScheduler", "prediction_type": "trigflow", "sigma_data": 0.25}`
	if err := os.WriteFile(cfg, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &Runner{Backend: cpu.New(cpu.Config{})}
	// σ_d cancels in the transformer input and the final x0/σ_d, so only
	// the scheduler's samples show it.
	for _, x := range r.Run(context.Background(), os.DirFS(dir), "drift") {
		if strings.HasSuffix(x.Case, "[latents]") && x.Pass() {
			t.Errorf("σ_d 0.25 passed: %v", x)
		}
	}
}
