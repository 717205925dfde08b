package dit

import (
	"context"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/internal/nn"
)

// forwardTiny runs one guided forward of random weights, with an unfused
// LoRA term on attn1.to_q of block 0, on be.
func forwardTiny(t *testing.T, c Config, be kernels.Backend) (*Weights, *kernels.Tensor) {
	t.Helper()
	w, err := RandomWeights(c, 11)
	if err != nil {
		t.Fatal(err)
	}
	D, r := c.Dim(), 2
	ab := nn.Random([]nn.Spec{nn.S("a", []int{r, D}, nn.Matrix), nn.S("b", []int{D, r}, nn.Matrix)}, 3, 1)
	if err := w.AddLoRA("transformer_blocks.0.attn1.to_q", LoRA{A: ab["a"], B: ab["b"], Scale: 0.5}); err != nil {
		t.Fatal(err)
	}
	m := New(c, w, be)
	ctx := context.Background()
	enc, mask := kernels.MustNew(kernels.Float32, 2, 5, c.CaptionChannels), kernels.MustNew(kernels.Int64, 2, 5)
	for i := range enc.F32() {
		enc.F32()[i] = float32(i%13)/13 - 0.5
	}
	for i := range mask.I64() {
		mask.I64()[i] = 1
	}
	cd, err := m.PrepareCond(ctx, enc, mask)
	if err != nil {
		t.Fatal(err)
	}
	x := kernels.MustNew(kernels.Float32, 2, c.InChannels, 4, 6)
	for i := range x.F32() {
		x.F32()[i] = float32(i%11)/11 - 0.5
	}
	out, err := m.Forward(ctx, x, []float32{500, 200}, []float32{4, 4}, cd)
	if err != nil {
		t.Fatal(err)
	}
	return w, out
}

// TestBF16PrecisionRoundsTheLinears: in kernels.PrecisionBF16 every Linear
// and 1×1-conv weight is BF16 after the first forward and every other
// tensor (biases, norms, tables, the depthwise conv, unfused LoRA
// factors) stays F32; in float32
// nothing changes dtype; the output stays close to the float32 one.
func TestBF16PrecisionRoundsTheLinears(t *testing.T) {
	c := tinyConfig(true, true)
	w32, ref := forwardTiny(t, c, cpu.New(cpu.Config{}))
	if got := nn.DTypes(w32); len(got) != 1 || got[kernels.Float32] == 0 {
		t.Errorf("float32 run: dtypes %v, want all F32", got)
	}
	w16, out := forwardTiny(t, c, cpu.New(cpu.Config{Precision: kernels.PrecisionBF16}))
	n := len(w16.linears())
	all := nn.DTypes(w32)[kernels.Float32]
	if got := nn.DTypes(w16); got[kernels.BFloat16] != n || got[kernels.Float32] != all-n {
		t.Errorf("bf16 run: dtypes %v, want %d BF16 and %d F32", got, n, all-n)
	}
	b := w16.blocks[0]
	for name, x := range map[string]struct {
		t  *kernels.Tensor
		dt kernels.DType
	}{
		"attn1.to_q.weight": {b.q1.w, kernels.BFloat16}, "ff.conv_inverted.weight": {b.ffIn.w, kernels.BFloat16},
		"patch_embed.proj.weight": {w16.patch.w, kernels.BFloat16}, "proj_out.weight": {w16.projOut.w, kernels.BFloat16},
		"attn2.to_q.bias": {b.q2.b, kernels.Float32}, "scale_shift_table": {b.sst, kernels.Float32},
		"attn1.norm_q.weight": {b.nq1, kernels.Float32}, "ff.conv_depth.weight": {b.ffDepthW, kernels.Float32},
		"caption_norm.weight": {w16.captionNrm, kernels.Float32}, "attn1.to_q LoRA A": {b.q1.lora[0].A, kernels.Float32},
	} {
		if x.t.DType() != x.dt {
			t.Errorf("%s is %v, want %v", name, x.t.DType(), x.dt)
		}
	}
	d := nn.MaxRelDiff(out, ref)
	t.Logf("bf16 weights: relative max error %.3g", d)
	if d > 2e-2 || d == 0 {
		t.Errorf("bf16 weights: relative max error %.3g, want in (0, 2e-2]", d)
	}
}

// TestFFNActivationsBF16: the Mix-FFN's wide intermediates are bf16 in the
// bf16 mode (weights narrowed at placement), float32 in exact mode and
// when the FFN carries an unfused LoRA term (its float32 delta is added
// to the GEMM's output).
func TestFFNActivationsBF16(t *testing.T) {
	c := tinyConfig(true, false)
	for _, tc := range []struct {
		name string
		prec kernels.Precision
		lora bool
		want kernels.DType
	}{
		{"bf16 mode", kernels.PrecisionBF16, false, kernels.BFloat16},
		{"exact mode", kernels.PrecisionF32, false, kernels.Float32},
		{"bf16 mode with an FFN LoRA", kernels.PrecisionBF16, true, kernels.Float32},
	} {
		w, err := RandomWeights(c, 1)
		if err != nil {
			t.Fatal(err)
		}
		if tc.lora {
			H2, D, r := w.blocks[0].ffIn.w.Dim(0), c.Dim(), 2
			ab := nn.Random([]nn.Spec{nn.S("a", []int{r, D}, nn.Matrix), nn.S("b", []int{H2, r}, nn.Matrix)}, 3, 1)
			if err := w.AddLoRA("transformer_blocks.0.ff.conv_inverted", LoRA{A: ab["a"], B: ab["b"], Scale: 1}); err != nil {
				t.Fatal(err)
			}
		}
		m := New(c, w, cpu.New(cpu.Config{Threads: 1, Precision: tc.prec}))
		if err := m.ready(); err != nil {
			t.Fatal(err)
		}
		if got := m.ffnActDType(&m.w.blocks[0]); got != tc.want {
			t.Errorf("%s: FFN activations %v, want %v", tc.name, got, tc.want)
		}
		wantNorm := kernels.DType(kernels.Float32)
		if tc.prec == kernels.PrecisionBF16 { // GEMM inputs: an unfused LoRA reads them as they are
			wantNorm = kernels.BFloat16
		}
		if got := m.normActDType(&m.w.blocks[0]); got != wantNorm {
			t.Errorf("%s: adaLN outputs %v, want %v", tc.name, got, wantNorm)
		}
	}
}

// TestAttnActivationsBF16: attn1's q, k, v, o are bf16 in the bf16 mode
// without q/k norm; with q/k norm (float32 RMSNorm), in exact mode, or with
// a LoRA on to_v they stay float32.
func TestAttnActivationsBF16(t *testing.T) {
	for _, tc := range []struct {
		name   string
		qk     bool
		prec   kernels.Precision
		loraOn string
		want   kernels.DType
	}{
		{"bf16 mode", false, kernels.PrecisionBF16, "", kernels.BFloat16},
		{"bf16 mode with q/k norm", true, kernels.PrecisionBF16, "", kernels.Float32},
		{"exact mode", false, kernels.PrecisionF32, "", kernels.Float32},
		{"bf16 mode, LoRA on to_v", false, kernels.PrecisionBF16, "transformer_blocks.0.attn1.to_v", kernels.Float32},
		{"bf16 mode, LoRA on to_out: o is only read", false, kernels.PrecisionBF16, "transformer_blocks.0.attn1.to_out.0", kernels.BFloat16},
	} {
		c := tinyConfig(tc.qk, false)
		w, err := RandomWeights(c, 1)
		if err != nil {
			t.Fatal(err)
		}
		if tc.loraOn != "" {
			D, r := c.Dim(), 2
			ab := nn.Random([]nn.Spec{nn.S("a", []int{r, D}, nn.Matrix), nn.S("b", []int{D, r}, nn.Matrix)}, 3, 1)
			if err := w.AddLoRA(tc.loraOn, LoRA{A: ab["a"], B: ab["b"], Scale: 1}); err != nil {
				t.Fatal(err)
			}
		}
		be := cpu.New(cpu.Config{Threads: 1, Precision: tc.prec})
		m := New(c, w, be)
		if err := m.ready(); err != nil {
			t.Fatal(err)
		}
		if got := m.attnActDType(&m.w.blocks[0]); got != tc.want {
			t.Errorf("%s: attention activations %v, want %v", tc.name, got, tc.want)
		}
	}
}

// dtypeSpy records which ops received bf16 activations.
type dtypeSpy struct {
	kernels.Backend
	bf16 map[string]int
}

func (s *dtypeSpy) Precision() kernels.Precision { return kernels.PrecisionOf(s.Backend) }

func (s *dtypeSpy) note(op string, ts ...*kernels.Tensor) {
	for _, t := range ts {
		if t != nil && t.DType() == kernels.BFloat16 && t.OnHost() && len(t.U16()) == t.Len() && t.Len() > 0 {
			s.bf16[op]++
			return
		}
	}
}

func (s *dtypeSpy) MatMul(dst, a, w, bias *kernels.Tensor) error {
	s.note("MatMul", dst, a)
	return s.Backend.MatMul(dst, a, w, bias)
}

func (s *dtypeSpy) LayerNormModulate(dst, x, shift, scale *kernels.Tensor, eps float32) error {
	s.note("LayerNormModulate", dst)
	return s.Backend.LayerNormModulate(dst, x, shift, scale, eps)
}

func (s *dtypeSpy) MixFFNConv(dst, u, inBias, dwW, dwBias *kernels.Tensor) error {
	s.note("MixFFNConv", dst, u)
	return s.Backend.MixFFNConv(dst, u, inBias, dwW, dwBias)
}

func (s *dtypeSpy) LinearAttention(dst, q, k, v *kernels.Tensor, p kernels.LinAttnParams) error {
	s.note("LinearAttention", dst, q)
	return s.Backend.LinearAttention(dst, q, k, v, p)
}

// TestBF16ForwardBF16Activations: without q/k norm the bf16 mode hands the
// adaLN outputs, attn1's q/k/v/o and the Mix-FFN intermediates to their
// ops as bf16 (block 0 keeps float32 attention: forwardTiny puts a LoRA on
// its to_q), and the output stays as close to float32 as the bf16 weights
// alone allow.
func TestBF16ForwardBF16Activations(t *testing.T) {
	c := tinyConfig(false, false)
	_, ref := forwardTiny(t, c, cpu.New(cpu.Config{}))
	spy := &dtypeSpy{Backend: cpu.New(cpu.Config{Precision: kernels.PrecisionBF16}), bf16: map[string]int{}}
	_, out := forwardTiny(t, c, spy)
	for _, op := range []string{"MatMul", "LayerNormModulate", "MixFFNConv", "LinearAttention"} {
		if spy.bf16[op] == 0 {
			t.Errorf("%s never received a bf16 activation (%v)", op, spy.bf16)
		}
	}
	d := nn.MaxRelDiff(out, ref)
	t.Logf("bf16 weights and activations: relative max error %.3g", d)
	if d > 2e-2 || d == 0 {
		t.Errorf("relative max error %.3g, want in (0, 2e-2]", d)
	}
}
