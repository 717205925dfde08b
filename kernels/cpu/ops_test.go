package cpu

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

// opTensor builds a host F32 tensor from values.
func opTensor(t *testing.T, vals []float32, shape ...int) *kernels.Tensor {
	t.Helper()
	x, err := kernels.FromF32(vals, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// opPoisoned allocates an F32 tensor filled with NaN, so unwritten outputs show.
func opPoisoned(shape ...int) *kernels.Tensor {
	x := kernels.MustNew(kernels.Float32, shape...)
	for i := range x.F32() {
		x.F32()[i] = float32(math.NaN())
	}
	return x
}

// opRand fills a new F32 tensor with uniform values in [-1, 1).
func opRand(rng *rand.Rand, shape ...int) *kernels.Tensor {
	x := kernels.MustNew(kernels.Float32, shape...)
	for i := range x.F32() {
		x.F32()[i] = rng.Float32()*2 - 1
	}
	return x
}

// opClose fails when got and want differ by more than tol (abs + rel).
func opClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d != %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if !(math.Abs(g-w) <= tol*(1+math.Abs(w))) {
			t.Fatalf("%s: [%d] = %g, want %g", what, i, g, w)
		}
	}
}

func opBackends() map[string]*Backend {
	return map[string]*Backend{"t1": New(Config{Threads: 1}), "t3": New(Config{Threads: 3}), "nosimd": New(Config{Threads: 2, NoSIMD: true})}
}

func TestOpMatMulBias(t *testing.T) {
	a := opTensor(t, []float32{1, 2, 3, 4, 5, 6}, 2, 3)
	w := opTensor(t, []float32{1, 0, 0, 0, 1, 0, 1, 1, 1, 0, 0, 2}, 4, 3)
	wb, _ := w.ToHalf(kernels.BFloat16)
	bias := opTensor(t, []float32{10, 20, 30, 40}, 4)
	for name, be := range opBackends() {
		for _, ww := range []*kernels.Tensor{w, wb} {
			dst := opPoisoned(2, 4)
			if err := be.MatMul(dst, a, ww, bias); err != nil {
				t.Fatal(err)
			}
			opClose(t, name+" matmul", dst.F32(), []float32{11, 22, 36, 46, 14, 25, 45, 52}, 1e-6)
		}
	}
}

func TestOpErrors(t *testing.T) {
	be := New(Config{})
	x := kernels.MustNew(kernels.Float32, 2, 5, 7)
	w := kernels.MustNew(kernels.Float32, 3, 6)
	err := be.MatMul(kernels.MustNew(kernels.Float32, 2, 5, 3), x, w, nil)
	if err == nil || !strings.Contains(err.Error(), "matmul: a F32[2 5 7] and w F32[3 6]: inner dimensions 7 != 6") {
		t.Fatalf("matmul error = %v", err)
	}
	// Every op must reject nil tensors with an error, not a panic.
	errs := []error{
		be.Copy(nil, x), be.MatMul(nil, nil, nil, nil), be.BatchMatMul(nil, nil, nil, false, 1),
		be.Conv2D(nil, nil, nil, nil, kernels.ConvParams{}), be.LayerNorm(nil, nil, 0),
		be.LayerNormModulate(nil, nil, nil, nil, 0), be.RMSNorm(nil, nil, nil, nil, kernels.NormParams{}),
		be.Activate(nil, nil, kernels.ActSiLU), be.GLU(nil, nil, kernels.ActSiLU, false),
		be.Softmax(nil, nil, nil, 0), be.Attention(nil, nil, nil, nil, nil, kernels.AttnParams{}),
		be.LinearAttention(nil, nil, nil, nil, kernels.LinAttnParams{}), be.RoPE(nil, nil, nil, kernels.RoPEParams{}),
		be.Embedding(nil, nil, nil, 1), be.TimestepEmbedding(nil, nil, kernels.TimestepParams{}),
		be.Add(nil, nil, nil), be.Mul(nil, nil, nil), be.Axpby(nil, nil, nil, 1, 1),
		be.Modulate(nil, nil, nil, nil), be.GatedAdd(nil, nil, nil, nil), be.PixelShuffle(nil, nil, 2),
		be.PixelUnshuffle(nil, nil, 2), be.UpsampleNearest2x(nil, nil), be.RepeatChannels(nil, nil, 2),
		be.Concat(nil, 0), be.Split(nil, 0, nil), be.Transpose(nil, nil), be.Reduce(nil, nil, kernels.ReduceSum),
	}
	for i, e := range errs {
		if e == nil || !strings.HasPrefix(e.Error(), "kernels: ") {
			t.Errorf("op %d: error = %v", i, e)
		}
	}
	// Forbidden aliasing is an error.
	y := kernels.MustNew(kernels.Float32, 4, 6)
	y0, _ := y.Slice(0, 1)
	if err := be.GLU(y0.MustReshape(2, 3), y, kernels.ActSiLU, false); err == nil {
		t.Error("glu with aliasing dst accepted")
	}
}

func TestOpNorms(t *testing.T) {
	be := New(Config{Threads: 2})
	x := opTensor(t, []float32{1, 2, 3, 4}, 1, 1, 4)
	dst := opPoisoned(1, 1, 4)
	if err := be.LayerNorm(dst, x, 0); err != nil {
		t.Fatal(err)
	}
	s := float32(1 / math.Sqrt(1.25))
	opClose(t, "layernorm", dst.F32(), []float32{-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s}, 1e-6)
	shift := opTensor(t, []float32{1, 1, 1, 1}, 1, 4)
	scale := opTensor(t, []float32{1, 0, 0, -1}, 1, 4)
	if err := be.LayerNormModulate(dst, x, shift, scale, 0); err != nil {
		t.Fatal(err)
	}
	opClose(t, "layernorm modulate", dst.F32(), []float32{1 - 3*s, 1 - 0.5*s, 1 + 0.5*s, 1}, 1e-6)
	w := opTensor(t, []float32{0, 1, 2, 3}, 4)
	if err := be.RMSNorm(dst, x, w, nil, kernels.NormParams{AddOne: true}); err != nil {
		t.Fatal(err)
	}
	r := float32(1 / math.Sqrt(7.5))
	opClose(t, "rmsnorm", dst.F32(), []float32{r, 4 * r, 9 * r, 16 * r}, 1e-6)
}

func TestOpSoftmaxMasked(t *testing.T) {
	be := New(Config{})
	inf := float32(math.Inf(-1))
	x := opTensor(t, []float32{0, 0, 1, 2, 3, 4}, 2, 3)
	mask := opTensor(t, []float32{0, inf, 0, inf, inf, inf}, 2, 3)
	dst := opPoisoned(2, 3)
	if err := be.Softmax(dst, x, mask, 0); err != nil {
		t.Fatal(err)
	}
	e := float32(1 / (1 + math.E))
	opClose(t, "softmax", dst.F32(), []float32{e, 0, 1 - e, 0, 0, 0}, 1e-6)
}

func TestOpAttentionSingleKey(t *testing.T) {
	be := New(Config{Threads: 2})
	rng := rand.New(rand.NewPCG(1, 2))
	q := opRand(rng, 2, 5, 8) // 2 heads × 4
	k := opRand(rng, 2, 1, 4) // 1 kv head
	v := opRand(rng, 2, 1, 4)
	dst := opPoisoned(2, 5, 8)
	if err := be.Attention(dst, q, k, v, nil, kernels.AttnParams{Heads: 2, KVHeads: 1, SoftCap: 50}); err != nil {
		t.Fatal(err)
	}
	for bi := range 2 {
		for i := range 5 {
			for h := range 2 {
				opClose(t, "attention", dst.F32()[(bi*5+i)*8+h*4:][:4], v.F32()[bi*4:bi*4+4], 1e-6)
			}
		}
	}
	// Causal with query 0 only seeing key 0: output row 0 is v[0].
	k2, v2 := opRand(rng, 1, 5, 8), opRand(rng, 1, 5, 8)
	d2 := opPoisoned(1, 5, 8)
	if err := be.Attention(d2, q, k2, v2, nil, kernels.AttnParams{Heads: 2}); err == nil {
		t.Fatal("mismatched batch accepted")
	}
	q1, _ := q.Slice(0, 1)
	if err := be.Attention(d2, q1, k2, v2, nil, kernels.AttnParams{Heads: 2, Causal: true}); err != nil {
		t.Fatal(err)
	}
	opClose(t, "causal row 0", d2.F32()[:8], v2.F32()[:8], 1e-6)
}

func TestOpLinearAttention(t *testing.T) {
	be := New(Config{Threads: 2})
	rng := rand.New(rand.NewPCG(3, 4))
	const nb, n, h, dh = 2, 7, 3, 4
	q, k, v := opRand(rng, nb, n, h*dh), opRand(rng, nb, n, h*dh), opRand(rng, nb, n, h*dh)
	dst := opPoisoned(nb, n, h*dh)
	if err := be.LinearAttention(dst, q, k, v, kernels.LinAttnParams{Heads: h, Eps: 1e-15}); err != nil {
		t.Fatal(err)
	}
	want := make([]float32, dst.Len())
	naiveLinAttn(want, q.F32(), k.F32(), v.F32(), nb, n, h, dh, 1e-15)
	opClose(t, "linear attention", dst.F32(), want, 1e-5)
}

func TestOpConvPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	cases := []struct {
		h, w, cin, cout, k int
		p                  kernels.ConvParams
	}{
		{5, 6, 8, 8, 3, kernels.ConvParams{Stride: 1, Pad: 1, Groups: 8}},
		{5, 6, 8, 8, 5, kernels.ConvParams{Stride: 2, Pad: 2, Groups: 8}},
		{4, 5, 45, 45, 3, kernels.ConvParams{Stride: 1, Pad: 1, Groups: 45}}, // SIMD 32 + 8 + Go tail
		{3, 3, 3, 3, 2, kernels.ConvParams{Stride: 1, Pad: 0, Groups: 3}},
		{5, 6, 6, 9, 3, kernels.ConvParams{Stride: 1, Pad: 1, Groups: 1}},
		{5, 6, 6, 4, 3, kernels.ConvParams{Stride: 2, Pad: 0, Groups: 2}},
		{4, 4, 6, 6, 1, kernels.ConvParams{Stride: 1, Pad: 0, Groups: 3}},
		{4, 4, 5, 7, 1, kernels.ConvParams{Stride: 1, Pad: 0, Groups: 1}},
	}
	for _, tc := range cases {
		x := opRand(rng, 2, tc.h, tc.w, tc.cin)
		w := opRand(rng, tc.cout, tc.k, tc.k, tc.cin/tc.p.Groups)
		bias := opRand(rng, tc.cout)
		d, err := kernels.CheckConv2D(opPoisoned(1, 1, 1, 1), x, w, bias, tc.p)
		if err == nil || d.Ho == 0 {
			ho := (tc.h+2*tc.p.Pad-tc.k)/tc.p.Stride + 1
			wo := (tc.w+2*tc.p.Pad-tc.k)/tc.p.Stride + 1
			d, _ = kernels.CheckConv2D(opPoisoned(2, ho, wo, tc.cout), x, w, bias, tc.p)
		}
		want := make([]float32, 2*d.Ho*d.Wo*tc.cout)
		naiveConv(want, x.F32(), w.F32(), bias.F32(), d)
		for name, be := range opBackends() {
			dst := opPoisoned(2, d.Ho, d.Wo, tc.cout)
			if err := be.Conv2D(dst, x, w, bias, tc.p); err != nil {
				t.Fatal(err)
			}
			opClose(t, name+" conv", dst.F32(), want, 1e-5)
		}
	}
}

// naiveConv is the textbook NHWC/OHWI convolution used as a reference.
func naiveConv(out, x, w, bias []float32, d kernels.ConvDims) {
	for bi := range d.B {
		for oy := range d.Ho {
			for ox := range d.Wo {
				for o := range d.Cout {
					g := o / d.CoutG
					s := float64(bias[o])
					for ky := range d.KH {
						for kx := range d.KW {
							iy, ix := oy*d.Stride-d.Pad+ky, ox*d.Stride-d.Pad+kx
							if iy < 0 || iy >= d.H || ix < 0 || ix >= d.W {
								continue
							}
							for c := range d.CinG {
								s += float64(x[((bi*d.H+iy)*d.W+ix)*d.Cin+g*d.CinG+c]) * float64(w[((o*d.KH+ky)*d.KW+kx)*d.CinG+c])
							}
						}
					}
					out[((bi*d.Ho+oy)*d.Wo+ox)*d.Cout+o] = float32(s)
				}
			}
		}
	}
}

func TestOpShuffles(t *testing.T) {
	be := New(Config{Threads: 2})
	rng := rand.New(rand.NewPCG(7, 8))
	x := opRand(rng, 2, 3, 4, 8)
	sh := opPoisoned(2, 6, 8, 2)
	if err := be.PixelShuffle(sh, x, 2); err != nil {
		t.Fatal(err)
	}
	// dst[b, 2i+a, 2j+c, ch] = x[b, i, j, ch·4 + a·2 + c]
	if got, want := sh.F32()[((1*6+3)*8+5)*2+1], x.F32()[((1*3+1)*4+2)*8+1*4+1*2+1]; got != want {
		t.Fatalf("pixel shuffle: %g != %g", got, want)
	}
	back := opPoisoned(2, 3, 4, 8)
	if err := be.PixelUnshuffle(back, sh, 2); err != nil {
		t.Fatal(err)
	}
	opClose(t, "unshuffle", back.F32(), x.F32(), 0)
	up := opPoisoned(2, 6, 8, 8)
	if err := be.UpsampleNearest2x(up, x); err != nil {
		t.Fatal(err)
	}
	if up.F32()[((1*6+5)*8+7)*8+3] != x.F32()[((1*3+2)*4+3)*8+3] {
		t.Fatal("upsample")
	}
	tr := opPoisoned(2, 3, 8, 4)
	if err := be.Transpose(tr, x); err != nil {
		t.Fatal(err)
	}
	if tr.F32()[((1*3+2)*8+5)*4+1] != x.F32()[((1*3+2)*4+1)*8+5] {
		t.Fatal("transpose")
	}
	a, bb := opPoisoned(2, 3, 1, 8), opPoisoned(2, 3, 3, 8)
	if err := be.Split([]*kernels.Tensor{a, bb}, 2, x); err != nil {
		t.Fatal(err)
	}
	cat := opPoisoned(2, 3, 4, 8)
	if err := be.Concat(cat, -2, a, bb); err != nil {
		t.Fatal(err)
	}
	opClose(t, "split/concat", cat.F32(), x.F32(), 0)
	rep := opPoisoned(2, 3, 4, 16)
	if err := be.RepeatChannels(rep, x, 2); err != nil {
		t.Fatal(err)
	}
	if rep.F32()[7] != x.F32()[3] || rep.F32()[6] != x.F32()[3] {
		t.Fatal("repeat channels")
	}
}

func TestOpSmallOps(t *testing.T) {
	be := New(Config{})
	x := opTensor(t, []float32{-1, 0, 2, 3}, 2, 2)
	d := opPoisoned(2, 2)
	if err := be.Add(d, x, opTensor(t, []float32{10, 20}, 2)); err != nil {
		t.Fatal(err)
	}
	opClose(t, "add", d.F32(), []float32{9, 20, 12, 23}, 0)
	if err := be.Activate(d, x, kernels.ActSiLU); err != nil {
		t.Fatal(err)
	}
	opClose(t, "silu", d.F32(), []float32{float32(-1 / (1 + math.E)), 0, float32(2 / (1 + math.Exp(-2))), float32(3 / (1 + math.Exp(-3)))}, 1e-6)
	g := opPoisoned(2, 1)
	if err := be.GLU(g, x, kernels.ActReLU, false); err != nil {
		t.Fatal(err)
	}
	opClose(t, "glu", g.F32(), []float32{0, 6}, 0)
	r := opPoisoned(2)
	if err := be.Reduce(r, x, kernels.ReduceMax); err != nil {
		t.Fatal(err)
	}
	opClose(t, "reduce max", r.F32(), []float32{0, 3}, 0)
	tab := opTensor(t, []float32{1, 2, 3, 4, 5, 6}, 3, 2)
	ids, _ := kernels.FromI32([]int32{2, 0}, 2)
	if err := be.Embedding(d, tab, ids, 2); err != nil {
		t.Fatal(err)
	}
	opClose(t, "embedding", d.F32(), []float32{10, 12, 2, 4}, 0)
	bad, _ := kernels.FromI64([]int64{3}, 1)
	if err := be.Embedding(opPoisoned(1, 2), tab, bad, 1); err == nil {
		t.Fatal("out-of-range id accepted")
	}
	te := opPoisoned(1, 4)
	if err := be.TimestepEmbedding(te, opTensor(t, []float32{0}, 1), kernels.TimestepParams{Dim: 4, FlipSinToCos: true}); err != nil {
		t.Fatal(err)
	}
	opClose(t, "timestep", te.F32(), []float32{1, 1, 0, 0}, 0)
	rx := opTensor(t, []float32{1, 0, 0, 1}, 1, 2, 2)
	pos, _ := kernels.FromI64([]int64{0, 1}, 2)
	if err := be.RoPE(rx, rx, pos, kernels.RoPEParams{Heads: 1, Theta: 10000}); err != nil {
		t.Fatal(err)
	}
	opClose(t, "rope", rx.F32(), []float32{1, 0, float32(-math.Sin(1)), float32(math.Cos(1))}, 1e-6)
}
