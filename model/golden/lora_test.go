package golden

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels/cpu"
)

// TestLoRACase runs lora_sana: every run of call.json, fused and unfused,
// within the case's tolerance.
func TestLoRACase(t *testing.T) {
	r := &Runner{Backend: cpu.New(cpu.Config{})}
	res := r.Run(context.Background(), os.DirFS(filepath.Join(goldenDir, "lora_sana")), "lora_sana")
	if len(res) != 9 {
		t.Errorf("%d results, want 9 (base + 4 runs × fused/unfused): %v", len(res), res)
	}
	for _, x := range res {
		t.Log(x)
		if !x.Pass() || !strings.HasPrefix(x.String(), "PASS lora_sana") {
			t.Error(x)
		}
	}
}
