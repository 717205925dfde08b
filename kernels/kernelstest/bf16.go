package kernelstest

import (
	"math"

	"github.com/sanafarm/sanafarm/kernels"
)

// Tolerances of backends in bf16 mode (kernels.PrecisionBF16, see
// kernels/precision.go). Float32 mode keeps the tolerances next to each
// op; these only apply to ops that multiply matrices, the ones a bf16
// backend may run on tensor cores.
//
// Unit roundoffs (relative error of one rounding, p significant bits
// including the implicit one):
//
//   - bfloat16, p = 8, round-to-nearest-even: 2^-8;
//   - float16, p = 11: 2^-11 in the normal range (|x| ≥ 2^-14; below, the
//     absolute error is at most 2^-25, far under dotATol for the suite's
//     inputs in [-1, 1));
//   - TF32, p = 11: 2^-11 when rounded to nearest, 2^-10 when the
//     hardware truncates. cuBLAS does not document which, so the bounds
//     below use 2^-10.
const (
	unitBF16 = 1.0 / (1 << 8)
	unitTF32 = 1.0 / (1 << 10)
)

// bf16DotRTol bounds a bf16-mode dot product relative to Σ|terms|. With a
// 16-bit weight only the activation is rounded (the weight is exact), so
// each product carries at most 2^-8 (bf16) or 2^-11 (f16); float32
// operands multiply as TF32, both rounded: (1+2^-10)² − 1 < 2^-8 as well.
// The products of rounded operands are exact in float32 and accumulate in
// float32, whose error dotRTol already covers. Bounding each term by its
// own worst case is rigorous, so no further margin is added.
const bf16DotRTol = unitBF16 + dotRTol

// bf16LinAttnRTol bounds LinearAttention relative to Σ_m |v_m|·(k_m·q)/den
// when its two GEMMs (KV = Σ_m k_m v_mᵀ, then q·KV and q·Σk) run in TF32:
// every elementary term k·q·v passes through four roundings (k and v in
// the first GEMM, KV and q in the second), ≤ 4·2^-10 of the numerator's
// Σ|terms|; the denominator's positive terms through three, ≤ 3·2^-10 of
// |out| ≤ Σ|terms|/den. 7·2^-10, rounded up to 8·2^-10 = 2^-7.
const bf16LinAttnRTol = attnRTol + 8*unitTF32

// dotRTol is the dot-product tolerance for c's backend precision.
func (c *tc) dotRTol() float64 {
	if c.prec == kernels.PrecisionBF16 {
		return bf16DotRTol
	}
	return dotRTol
}

// linAttnRTol is the LinearAttention tolerance for c's backend precision.
func (c *tc) linAttnRTol() float64 {
	if c.prec == kernels.PrecisionBF16 {
		return bf16LinAttnRTol
	}
	return attnRTol
}

// attnBF16Tols bounds Attention per output when its GEMMs run in TF32
// (bf16 mode), relative to Σ_j p_j·|v_j| (scale, from attnRef):
//
//   - each score s_j = σ·q·k_j (σ the softmax scale) gets q and k
//     rounded, an error |δ_j| ≤ (2ε+ε²)·σ·Σ_d |q_d·k_jd| with ε = 2^-10;
//     the soft-cap's tanh has slope ≤ 1, the mask adds in float32;
//   - the float32 softmax then moves every probability by a factor in
//     [e^{-2Δ}, e^{2Δ}] (Δ = max_j |δ_j| over the row), so the output by
//     at most (e^{2Δ} − 1)·Σ p_j·|v_j|;
//   - P·V rounds p and v: (2ε+ε²) of Σ p'_j·|v_j| ≤ e^{2Δ}·Σ p_j·|v_j|.
func attnBF16Tols(ac attnCase, q, k, scale []float64) []float64 {
	tol := make([]float64, len(scale))
	eps2 := 2*unitTF32 + unitTF32*unitTF32
	sm := float64(ac.scale)
	if sm == 0 {
		sm = 1 / math.Sqrt(float64(ac.dh))
	}
	for b := range ac.b {
		for h := range ac.hq {
			kvh := h / (ac.hq / ac.hkv)
			for i := range ac.tq {
				qo := (b*ac.tq+i)*ac.hq*ac.dh + h*ac.dh
				big := 0.0 // max_j σ·Σ_d |q_d·k_jd|
				for j := range ac.tk {
					ko := (b*ac.tk+j)*ac.hkv*ac.dh + kvh*ac.dh
					s := 0.0
					for d := range ac.dh {
						s += math.Abs(q[qo+d] * k[ko+d])
					}
					big = math.Max(big, sm*s)
				}
				spread := 2 * eps2 * big
				rel := attnRTol + math.Expm1(spread) + eps2*math.Exp(spread)
				for d := range ac.dh {
					tol[qo+d] = attnATol + rel*scale[qo+d]
				}
			}
		}
	}
	return tol
}
