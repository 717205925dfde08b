package golden

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/weights"
)

// TestGemma2MaskedComparison copies the gemma2 case and perturbs its
// reference: a change at a padded position must not matter, one at a
// token position must turn PASS into FAIL.
func TestGemma2MaskedComparison(t *testing.T) {
	src := filepath.Join(goldenDir, "gemma2")
	out, err := weights.Open(os.DirFS(src), "outputs.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	in, err := weights.Open(os.DirFS(src), "inputs.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	mask, _ := in.Tensor("attention_mask")
	ref, _ := out.Tensor("last_hidden_state")
	D := ref.Dim(2)
	padded, valid := -1, -1
	for i := range mask.Len() {
		if mask.At(i) == 0 && padded < 0 {
			padded = i * D
		} else if mask.At(i) == 1 && valid < 0 {
			valid = i * D
		}
	}
	r := &Runner{Backend: cpu.New(cpu.Config{})}
	for _, tc := range []struct {
		at   int
		pass bool
	}{{padded, true}, {valid, false}} {
		dir := t.TempDir()
		for _, f := range []string{"config.json", "inputs.safetensors", "model.safetensors"} {
			b, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		h, _ := out.Tensor("last_hidden_state")
		h.F32()[tc.at] += 1e-2
		fo, _ := os.Create(filepath.Join(dir, "outputs.safetensors"))
		if err := weights.Write(fo, map[string]*kernels.Tensor{"last_hidden_state": h}, nil); err != nil {
			t.Fatal(err)
		}
		fo.Close()
		res := r.Run(context.Background(), os.DirFS(dir), "g2")
		if len(res) != 1 || res[0].Pass() != tc.pass || !strings.HasPrefix(res[0].String(), map[bool]string{true: "PASS", false: "FAIL"}[tc.pass]+" g2 max_abs=") {
			t.Errorf("perturbed element %d (want pass=%v): %v", tc.at, tc.pass, res)
		}
	}
}
