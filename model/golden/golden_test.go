package golden

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/weights"
)

const goldenDir = "../../testdata/golden"

func TestPublicCases(t *testing.T) {
	want := map[string]int{ // case → number of result lines
		"sana_transformer": 2, "sana_transformer_posembed": 1, "sana_transformer_posembed_resized": 1,
		"sana_transformer_sprint": 1, "sana_transformer_v15": 1,
		"flow_dpm_solver": 1, "flow_euler": 1, "pipeline_loop": 1, "torch_randn": 1, "tokenizer": 1, "gemma2": 1, "dc_ae": 1,
		"nvlabs_checkpoint": 1,
	}
	for name, lines := range want {
		expectCasePasses(t, name, lines)
	}
}

func TestUnknownCase(t *testing.T) {
	r := &Runner{Backend: cpu.New(cpu.Config{})}
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "notes.txt"), []byte("x"), 0o644)
	for _, dir := range []string{empty, goldenDir} {
		res := r.Run(context.Background(), os.DirFS(dir), dir)
		if len(res) != 1 || !errors.Is(res[0].Err, ErrUnknownCase) || !strings.HasPrefix(res[0].String(), "FAIL") {
			t.Errorf("%s: %v", dir, res)
		}
	}
}

// TestUnseenCaseAndFailure copies a case under a new name (nothing may be
// keyed on folder names) and then corrupts its reference output, which
// must turn PASS into FAIL.
func TestUnseenCaseAndFailure(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(goldenDir, "sana_transformer_v15")
	for _, f := range []string{"config.json", "inputs.safetensors", "model.safetensors", "outputs.safetensors"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	r := &Runner{Backend: cpu.New(cpu.Config{})}
	if res := r.Run(context.Background(), os.DirFS(dir), "my-port"); !res[0].Pass() {
		t.Fatalf("copied case: %v", res)
	}
	out, err := weights.Open(os.DirFS(src), "outputs.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	sample, _ := out.Tensor("sample")
	sample.F32()[5] += 1e-3
	f, _ := os.Create(filepath.Join(dir, "outputs.safetensors"))
	if err := weights.Write(f, map[string]*kernels.Tensor{"sample": sample}, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	res := r.Run(context.Background(), os.DirFS(dir), "my-port")
	if res[0].Pass() || !strings.HasPrefix(res[0].String(), "FAIL my-port max_abs=") {
		t.Errorf("corrupted reference should fail: %v", res)
	}
}

// TestLoopComparesDecoded corrupts pipeline_loop's `decoded` reference:
// the pipeline case must then fail, proving the VAE decode is compared.
func TestLoopComparesDecoded(t *testing.T) {
	src := filepath.Join(goldenDir, "pipeline_loop")
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	out, err := weights.Open(os.DirFS(src), "outputs.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ts := map[string]*kernels.Tensor{}
	for _, n := range []string{"final_latent", "decoded", "image_pt"} {
		if ts[n], err = out.Tensor(n); err != nil {
			t.Fatal(err)
		}
	}
	ts["decoded"].F32()[100] += 1e-2
	f, err := os.Create(filepath.Join(dir, "outputs.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if err := weights.Write(f, ts, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r := &Runner{Backend: cpu.New(cpu.Config{})}
	res := r.Run(context.Background(), os.DirFS(dir), "loop-bad-decoded")
	if len(res) != 1 || res[0].Pass() || res[0].MaxAbs < 9e-3 {
		t.Errorf("corrupted decoded should fail: %v", res)
	}
}
