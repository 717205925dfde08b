package kernels

import "errors"

// ErrNotImplemented is returned by a backend for an op (or an op variant,
// e.g. a dtype) it does not provide, so callers can fall back to a
// decomposition while a new backend is partial.
var ErrNotImplemented = errors.New("not implemented")

// ErrOutOfMemory is wrapped by a backend's error when its device memory
// ran out (after it freed what it could): a node's GPU shared with other
// processes, or a job too large for it. The node reports it as its own
// fault (node/ownfault.go), so another node may run the shard.
var ErrOutOfMemory = errors.New("out of device memory")

// ErrDeviceFault is wrapped by a backend's error once its device can do
// no more work in this process (a CUDA error that breaks the context: an
// illegal address, an uncorrectable ECC error). The node reports the
// attempt as its own fault and stops taking work, so that its service
// manager restarts it with a fresh context (node/task.go).
var ErrDeviceFault = errors.New("GPU fault")

// Act selects an elementwise activation.
type Act uint8

// Activations used by Sana, DC-AE and Gemma-2.
const (
	ActNone     Act = iota
	ActSiLU         // x·σ(x)
	ActGELUTanh     // 0.5·x·(1+tanh(√(2/π)·(x+0.044715x³))), PyTorch approximate="tanh"
	ActReLU         // max(x, 0)
)

// String names the activation.
func (a Act) String() string {
	switch a {
	case ActNone:
		return "none"
	case ActSiLU:
		return "silu"
	case ActGELUTanh:
		return "gelu_tanh"
	case ActReLU:
		return "relu"
	}
	return "act?"
}

// ConvParams describes a 2-D convolution on NHWC activations.
type ConvParams struct {
	Stride int // ≥ 1; same in both spatial dims
	Pad    int // zero padding on every border
	Groups int // ≥ 1; Groups == Cin == Cout is a depthwise conv
}

// NormParams describes an RMSNorm over the last axis.
type NormParams struct {
	Eps float32
	// AddOne multiplies by (1 + w) instead of w (Gemma-2's RMSNorm).
	AddOne bool
}

// AttnParams describes scaled-dot-product attention on token-major
// tensors: q [B, Tq, Hq·Dh], k and v [B, Tk, Hkv·Dh], out [B, Tq, Hq·Dh].
// Query head h uses key/value head h / (Hq/Hkv) (grouped-query attention).
type AttnParams struct {
	Heads   int     // Hq
	KVHeads int     // Hkv; 0 means Heads
	Scale   float32 // multiplies q·k; 0 means 1/√Dh
	SoftCap float32 // > 0: s = SoftCap·tanh(s/SoftCap), applied before the mask
	Causal  bool    // key j visible to query i only when j ≤ i (top-left aligned)
	// Window > 0 additionally hides keys with i − j ≥ Window (sliding window;
	// used together with Causal, as Gemma-2's local layers do).
	Window int
}

// LinAttnParams describes Sana's ReLU linear attention on token-major
// tensors q, k, v, out [B, N, H·Dh]: per head, q and k pass through ReLU,
// o_n = (Σ_m v_m k_mᵀ) q_n / ((Σ_m k_m)·q_n + Eps), all in float32.
type LinAttnParams struct {
	Heads int
	Eps   float32 // 1e-15 in diffusers
}

// RoPEParams describes rotary position embedding with the rotate-half
// convention on x [B, T, H·Dh]: the first and second halves of each head
// are rotated as pairs (i, i+Dh/2) by angle pos·Theta^(−2i/Dh).
type RoPEParams struct {
	Heads int
	Theta float32 // 10000 for Gemma-2
}

// TimestepParams describes the sinusoidal timestep embedding (diffusers
// get_timestep_embedding): with half = Dim/2, f_k =
// exp(−ln(MaxPeriod)·k/(half − DownscaleFreqShift)), arg = Scale·t·f_k
// (Scale multiplies the argument, as diffusers does), emb = [sin(arg),
// cos(arg)] ([cos, sin] when FlipSinToCos); an odd Dim gets a zero last
// column.
type TimestepParams struct {
	Dim                int
	FlipSinToCos       bool
	DownscaleFreqShift float32
	MaxPeriod          float32 // 10000 when 0
	Scale              float32 // 1 when 0
}

// ReduceOp selects a reduction over the last axis.
type ReduceOp uint8

// Reductions.
const (
	ReduceSum ReduceOp = iota + 1
	ReduceMean
	ReduceMax
)

// Backend is the op set sanafarm computes with. Every op writes into a
// caller-allocated dst (destination-passing style, so buffers are reused
// across steps) and returns an error naming the op and shapes when the
// arguments do not fit; no op panics on bad arguments.
//
// Unless stated otherwise, activations (x, dst, a, q, k, v, ...) are
// Float32, while weights and biases may be Float32, BFloat16 or Float16 and
// are widened on the fly. MatMul, MixFFNConv, LayerNormModulate (dst) and
// LinearAttention also take BFloat16 activations, the production bf16
// mode's (docs/performance.md): read exactly, computed in float32,
// rounded once on store. A backend may return ErrNotImplemented for a
// dtype it does not support. Ops may run concurrently on different tensors
// but the backend may use all its threads for one op.
type Backend interface {
	// Name identifies the backend ("cpu", "cuda").
	Name() string

	// Alloc returns a zero-filled tensor in the backend's memory.
	Alloc(dt DType, shape ...int) (*Tensor, error)
	// Copy copies src into dst (same shape); either may live on the host
	// or in the backend's memory, and float dtypes are converted.
	Copy(dst, src *Tensor) error
	// Sync waits for all queued work (no-op on CPU).
	Sync() error

	// MatMul computes dst[..., M, N] = a[..., M, K] · wᵀ + bias with w in
	// PyTorch Linear layout [N, K] and optional bias [N]. All leading dims
	// of a are flattened into M. a and dst are Float32 or BFloat16 (bf16
	// activations: read exactly, the result computed in float32 with the
	// bias and rounded to nearest even once on store).
	MatMul(dst, a, w, bias *Tensor) error
	// BatchMatMul computes dst[b] = alpha · a[b] · op(b[b]) for a
	// [Bt, M, K] and b [Bt, K, N] (or [Bt, N, K] when transB), all Float32.
	BatchMatMul(dst, a, b *Tensor, transB bool, alpha float32) error
	// Conv2D convolves x [B, H, W, Cin] (NHWC) with w [Cout, kh, kw,
	// Cin/Groups] (OHWI; see OIHWToOHWI) plus optional bias [Cout] into dst
	// [B, Ho, Wo, Cout], Ho = (H + 2·Pad − kh)/Stride + 1.
	Conv2D(dst, x, w, bias *Tensor, p ConvParams) error

	// LayerNorm normalizes over the last axis without affine parameters:
	// dst = (x − mean)/√(var + eps), statistics in float32 or wider.
	LayerNorm(dst, x *Tensor, eps float32) error
	// LayerNormModulate fuses dst = LayerNorm(x)·(1 + scale) + shift for x
	// [B, N, D] with shift and scale [B, D] (adaLN modulation). dst may be
	// BFloat16 (a bf16 activation for the GEMMs it feeds: rounded once on
	// store), then not x.
	LayerNormModulate(dst, x, shift, scale *Tensor, eps float32) error
	// RMSNorm computes dst = x/√(mean(x²) + eps) · w (+ b) over the last
	// axis; w and b [D] are optional (nil), p.AddOne uses (1 + w).
	RMSNorm(dst, x, w, b *Tensor, p NormParams) error

	// Activate applies act elementwise; dst may be x.
	Activate(dst, x *Tensor, act Act) error
	// GLU splits x [..., 2H] into halves and computes dst [..., H] =
	// value ⊙ act(gate). gateFirst selects which half is the gate: Sana's
	// Mix-FFN is value-first (false), a fused Gemma gate|up is gate-first.
	GLU(dst, x *Tensor, act Act, gateFirst bool) error
	// MixFFNConv is the middle of Sana's Mix-FFN (GLUMBConv) in one pass:
	// for u [B, H, W, 2C], the 1×1 expansion without its bias,
	// d = depthwise3×3(SiLU(u + inBias), dwW, pad 1) + dwBias and dst
	// [B, H, W, C] = d[..., :C] ⊙ SiLU(d[..., C:]). dwW is OHWI [2C, 3, 3,
	// 1]; inBias and dwBias [2C] are optional; all float32 arithmetic (the
	// depthwise part is never rounded to bf16, docs/performance.md). u and
	// dst are Float32 or BFloat16 (read exactly; dst rounded once on store).
	MixFFNConv(dst, u, inBias, dwW, dwBias *Tensor) error
	// Softmax over the last axis of x [..., T] with an optional additive
	// mask broadcast from a suffix shape of x (e.g. [T] or [Tq, T]), and
	// optional soft-capping (softCap > 0: x = softCap·tanh(x/softCap)
	// before the mask). dst may be x.
	Softmax(dst, x, mask *Tensor, softCap float32) error
	// Attention is scaled-dot-product attention (see AttnParams). mask is
	// optional and additive, either per key [B, Tk] or [B, Tq, Tk].
	Attention(dst, q, k, v, mask *Tensor, p AttnParams) error
	// LinearAttention is Sana's ReLU linear attention (see LinAttnParams).
	// q, k, v share one dtype, Float32 or BFloat16 (read exactly), and dst
	// is Float32 or BFloat16 (rounded once on store); the state and sums
	// stay float32 or wider.
	LinearAttention(dst, q, k, v *Tensor, p LinAttnParams) error
	// RoPE rotates x [B, T, H·Dh] by positions pos (Int64 or Int32, [B, T]
	// or [T]); dst may be x.
	RoPE(dst, x, pos *Tensor, p RoPEParams) error

	// Embedding gathers rows of table [V, D] (any float dtype) for ids
	// [...] (Int64 or Int32) into dst [..., D], multiplied by scale. An id
	// outside [0, V) is an error.
	Embedding(dst, table, ids *Tensor, scale float32) error
	// TimestepEmbedding writes the sinusoidal embedding of t [B] into dst
	// [B, p.Dim].
	TimestepEmbedding(dst, t *Tensor, p TimestepParams) error

	// Add computes dst = a + b where b's shape is a suffix of a's (b
	// repeats over a's leading dims). dst may be a.
	Add(dst, a, b *Tensor) error
	// Mul computes dst = a ⊙ b with the same broadcasting as Add.
	Mul(dst, a, b *Tensor) error
	// Axpby computes dst = alpha·a + beta·b for same-shape a, b (e.g. the
	// classifier-free guidance combine). dst may alias a or b.
	Axpby(dst, a, b *Tensor, alpha, beta float32) error
	// Modulate computes dst = x·(1 + scale) + shift for x [B, N, D] and
	// shift, scale [B, D]. dst may be x.
	Modulate(dst, x, shift, scale *Tensor) error
	// GatedAdd computes dst = x + gate ⊙ y for x, y [B, N, D] and gate
	// [B, D]; dst may be x. (The residual update of a gated block.)
	GatedAdd(dst, x, gate, y *Tensor) error

	// PixelShuffle rearranges x [B, H, W, C·r²] into dst [B, H·r, W·r, C]
	// with dst[c, r·i+a, r·j+b] = x[c·r² + a·r + b, i, j] (PyTorch order).
	PixelShuffle(dst, x *Tensor, r int) error
	// PixelUnshuffle is the inverse: x [B, H·r, W·r, C] → dst [B, H, W, C·r²].
	PixelUnshuffle(dst, x *Tensor, r int) error
	// UpsampleNearest2x doubles H and W of x [B, H, W, C].
	UpsampleNearest2x(dst, x *Tensor) error
	// RepeatChannels repeats each channel of x [..., C] r times in place
	// (interleaved: output channel k = input channel k/r) into dst [..., C·r].
	RepeatChannels(dst, x *Tensor, r int) error
	// Concat joins srcs along axis into dst.
	Concat(dst *Tensor, axis int, srcs ...*Tensor) error
	// Split cuts src along axis into dsts (their sizes along axis must sum
	// to src's).
	Split(dsts []*Tensor, axis int, src *Tensor) error
	// Transpose swaps the last two axes: x [..., M, N] → dst [..., N, M]
	// (NCHW ↔ NHWC at the model boundary).
	Transpose(dst, x *Tensor) error
	// Reduce reduces the last axis: x [..., T] → dst [...].
	Reduce(dst, x *Tensor, op ReduceOp) error
}
