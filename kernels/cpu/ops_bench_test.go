package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/kernels"
)

// Op benchmarks: each hot op against a straightforward reference loop
// ("naive"), as sub-benchmarks .../ours and .../naive.
// TestReportOpRatios (SANAFARM_OPBENCH=1) times both interleaved and
// prints op=<name> threads=<n> ours=<t> naive=<t> ratio=<naive/ours> lines.

// naiveDepthwise is the textbook NHWC depthwise conv with OIHW-style
// per-channel weights w[c][ky][kx] (OHWI with one input channel).
func naiveDepthwise(out, x, w, bias []float32, nb, h, wd, c, k, pad int) {
	for bi := range nb {
		for oy := range h {
			for ox := range wd {
				for ch := range c {
					s := bias[ch]
					for ky := range k {
						for kx := range k {
							iy, ix := oy-pad+ky, ox-pad+kx
							if iy >= 0 && iy < h && ix >= 0 && ix < wd {
								s += x[((bi*h+iy)*wd+ix)*c+ch] * w[(ch*k+ky)*k+kx]
							}
						}
					}
					out[((bi*h+oy)*wd+ox)*c+ch] = s
				}
			}
		}
	}
}

// naiveLinAttn evaluates LinAttnParams' formula literally per head:
// KV = Σ v kᵀ, ksum = Σ k (ReLU'd), o = KV·q / (ksum·q + eps).
func naiveLinAttn(out, q, k, v []float32, nb, n, h, dh int, eps float32) {
	ld := h * dh
	kv := make([]float32, dh*dh)
	ks := make([]float32, dh)
	for bi := range nb {
		for hd := range h {
			clear(kv)
			clear(ks)
			base := bi*n*ld + hd*dh
			for m := range n {
				for i := range dh {
					for j := range dh {
						kv[i*dh+j] += v[base+m*ld+i] * max(k[base+m*ld+j], 0)
					}
				}
				for j := range dh {
					ks[j] += max(k[base+m*ld+j], 0)
				}
			}
			for m := range n {
				var den float32
				for j := range dh {
					den += ks[j] * max(q[base+m*ld+j], 0)
				}
				for i := range dh {
					var num float32
					for j := range dh {
						num += kv[i*dh+j] * max(q[base+m*ld+j], 0)
					}
					out[base+m*ld+i] = num / (den + eps)
				}
			}
		}
	}
}

// naiveLNModulate is LayerNorm (float64 statistics) then ·(1+scale)+shift.
func naiveLNModulate(out, x, shift, scale []float32, nb, n, d int, eps float32) {
	for r := range nb * n {
		bi := r / n
		row := x[r*d : (r+1)*d]
		var mean, v float64
		for _, e := range row {
			mean += float64(e)
		}
		mean /= float64(d)
		for _, e := range row {
			v += (float64(e) - mean) * (float64(e) - mean)
		}
		rstd := 1 / math.Sqrt(v/float64(d)+float64(eps))
		for i, e := range row {
			y := float32((float64(e) - mean) * rstd)
			out[r*d+i] = y*(1+scale[bi*d+i]) + shift[bi*d+i]
		}
	}
}

// naiveRMSNorm is x/√(mean(x²)+eps)·w.
func naiveRMSNorm(out, x, w []float32, rows, d int, eps float32) {
	for r := range rows {
		var s float64
		for _, e := range x[r*d : (r+1)*d] {
			s += float64(e) * float64(e)
		}
		inv := float32(1 / math.Sqrt(s/float64(d)+float64(eps)))
		for i, e := range x[r*d : (r+1)*d] {
			out[r*d+i] = e * inv * w[i]
		}
	}
}

// naiveSiLU is x·σ(x) with a float64 exp.
func naiveSiLU(out, x []float32) {
	for i, v := range x {
		out[i] = float32(float64(v) / (1 + math.Exp(-float64(v))))
	}
}

// naiveSoftmax normalizes rows of length t with float64 exp and sum.
func naiveSoftmax(out, x []float32, t int) {
	for r := 0; r < len(x); r += t {
		row, o := x[r:r+t], out[r:r+t]
		m := row[0]
		for _, v := range row {
			m = max(m, v)
		}
		var sum float64
		for i, v := range row {
			e := math.Exp(float64(v - m))
			o[i] = float32(e)
			sum += e
		}
		for i := range o {
			o[i] = float32(float64(o[i]) / sum)
		}
	}
}

// opCase is one benchmarked op: ours and naive run the same computation.
type opCase struct {
	name        string
	ours, naive func()
}

// opCases builds the benchmark inputs once and returns the cases.
func opCases(be *Backend) []opCase {
	rng := rand.New(rand.NewPCG(11, 12))
	var cs []opCase
	for _, hw := range []int{32, 16} {
		const c = 2880
		x, w, bias := opRand(rng, 1, hw, hw, c), opRand(rng, c, 3, 3, 1), opRand(rng, c)
		dst := kernels.MustNew(kernels.Float32, 1, hw, hw, c)
		p := kernels.ConvParams{Stride: 1, Pad: 1, Groups: c}
		cs = append(cs, opCase{fmt.Sprintf("depthwise3x3_%dx%dx%d", hw, hw, c),
			func() { must(be.Conv2D(dst, x, w, bias, p)) },
			func() { naiveDepthwise(dst.F32(), x.F32(), w.F32(), bias.F32(), 1, hw, hw, c, 3, 1) }})
	}
	{
		const nb, n, h, dh = 2, 1024, 36, 32
		q, k, v := opRand(rng, nb, n, h*dh), opRand(rng, nb, n, h*dh), opRand(rng, nb, n, h*dh)
		dst := kernels.MustNew(kernels.Float32, nb, n, h*dh)
		p := kernels.LinAttnParams{Heads: h, Eps: 1e-15}
		cs = append(cs, opCase{"linattn_2x1024x36x32",
			func() { must(be.LinearAttention(dst, q, k, v, p)) },
			func() { naiveLinAttn(dst.F32(), q.F32(), k.F32(), v.F32(), nb, n, h, dh, 1e-15) }})
	}
	{
		const nb, n, d = 2, 1024, 1152
		x, sh, sc, w := opRand(rng, nb, n, d), opRand(rng, nb, d), opRand(rng, nb, d), opRand(rng, d)
		dst := kernels.MustNew(kernels.Float32, nb, n, d)
		cs = append(cs, opCase{"layernorm_modulate_2x1024x1152",
			func() { must(be.LayerNormModulate(dst, x, sh, sc, 1e-6)) },
			func() { naiveLNModulate(dst.F32(), x.F32(), sh.F32(), sc.F32(), nb, n, d, 1e-6) }})
		cs = append(cs, opCase{"rmsnorm_2x1024x1152",
			func() { must(be.RMSNorm(dst, x, w, nil, kernels.NormParams{Eps: 1e-5})) },
			func() { naiveRMSNorm(dst.F32(), x.F32(), w.F32(), nb*n, d, 1e-5) }})
	}
	{
		x := opRand(rng, 2, 256, 5760)
		dst := kernels.MustNew(kernels.Float32, 2, 256, 5760)
		cs = append(cs, opCase{"silu_2x256x5760",
			func() { must(be.Activate(dst, x, kernels.ActSiLU)) },
			func() { naiveSiLU(dst.F32(), x.F32()) }})
	}
	{
		x := opRand(rng, 16, 256, 300)
		dst := kernels.MustNew(kernels.Float32, 16, 256, 300)
		cs = append(cs, opCase{"softmax_16x256x300",
			func() { must(be.Softmax(dst, x, nil, 0)) },
			func() { naiveSoftmax(dst.F32(), x.F32(), 300) }})
	}
	return cs
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func BenchmarkOps(b *testing.B) {
	for _, c := range opCases(New(Config{})) {
		b.Run(c.name+"/ours", func(b *testing.B) {
			for b.Loop() {
				c.ours()
			}
		})
		b.Run(c.name+"/naive", func(b *testing.B) {
			for b.Loop() {
				c.naive()
			}
		})
	}
}

// TestReportOpRatios prints ours/naive timings for BENCHMARKS.md. The two
// variants alternate so machine-load drift hits both equally; the best of
// several rounds is reported.
func TestReportOpRatios(t *testing.T) {
	if os.Getenv("SANAFARM_OPBENCH") != "1" {
		t.Skip("set SANAFARM_OPBENCH=1 to time ops against naive loops")
	}
	// threads=1 isolates per-core kernel quality (the naive loops are
	// single-threaded); threads=0 is the backend as used.
	for _, threads := range []int{0, 1} {
		be := New(Config{Threads: threads})
		for _, c := range opCases(be) {
			ours, naive := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
			c.ours() // warm up
			for range 7 {
				ours = min(ours, timeOnce(c.ours))
				naive = min(naive, timeOnce(c.naive))
			}
			fmt.Printf("op=%s threads=%d ours=%v naive=%v ratio=%.2f\n",
				c.name, be.Threads(), ours, naive, float64(naive)/float64(ours))
		}
	}
}

func timeOnce(f func()) time.Duration {
	t0 := time.Now()
	f()
	return time.Since(t0)
}
