package golden

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
)

// TestBF16Mode runs cases on the CPU emulation of bf16 mode: the
// transformer and pipeline_loop pass at their bf16 tolerances, the
// float32-only comparisons show up as SKIP lines, and the bf16 weights
// really are multiplied in bf16 (the error is far above float32's).
func TestBF16Mode(t *testing.T) {
	r := &Runner{Backend: cpu.New(cpu.Config{Precision: kernels.PrecisionBF16})}
	cases := []struct {
		dir  string
		want []string // result line prefixes, in order
		tol  []float64
	}{
		{"sana_transformer", []string{"SKIP sana_transformer: ", "PASS sana_transformer[bf16_compute] max_abs="},
			[]float64{0, TolTransformerBF16Compute}},
		{"pipeline_loop", []string{"PASS pipeline_loop max_abs="}, []float64{TolLoopBF16}},
		{"dc_ae", []string{"SKIP dc_ae: no bf16-mode tolerance"}, []float64{0}},
		{"flow_euler", []string{"PASS flow_euler max_abs="}, []float64{TolScheduler}},
	}
	for _, c := range cases {
		res := r.Run(context.Background(), os.DirFS(filepath.Join(goldenDir, c.dir)), c.dir)
		if len(res) != len(c.want) {
			t.Fatalf("%s: %d results, want %d: %v", c.dir, len(res), len(c.want), res)
		}
		for i, x := range res {
			t.Log(x)
			if !x.Pass() || !strings.HasPrefix(x.String(), c.want[i]) || x.Tol != c.tol[i] {
				t.Errorf("%s: got %v (tol %g), want %q… at tol %g", c.dir, x, x.Tol, c.want[i], c.tol[i])
			}
		}
		if c.dir == "sana_transformer" && res[1].MaxAbs <= TolTransformer {
			t.Errorf("bf16 compute max_abs %.3g is within the float32 tolerance: products were not rounded", res[1].MaxAbs)
		}
	}
}

// TestBF16ResultLine: a skipped case is neither a failure nor silent.
func TestBF16ResultLine(t *testing.T) {
	for _, c := range []struct {
		res  Result
		pass bool
		line string
	}{
		{Result{Case: "a", Skip: "why"}, true, "SKIP a: why"},
		{Result{Case: "b", MaxAbs: 1, Tol: 0.5}, false, "FAIL b max_abs=1.000e+00 tol=5e-01"},
		{Result{Case: "c", MaxAbs: 0.1, Tol: 0.5}, true, "PASS c max_abs=1.000e-01 tol=5e-01"},
	} {
		if c.res.Pass() != c.pass || c.res.String() != c.line {
			t.Errorf("%+v: Pass %v, %q; want %v, %q", c.res, c.res.Pass(), c.res.String(), c.pass, c.line)
		}
	}
}
