package kernelstest

import "github.com/sanafarm/sanafarm/kernels"

// The ops of kernels.Backend, each recorded during a capture (recorder.go).

func (r *Recorder) MatMul(dst, a, w, bias *kernels.Tensor) error {
	return r.op(func() error { return r.Backend.MatMul(dst, a, w, bias) })
}

func (r *Recorder) BatchMatMul(dst, a, b *kernels.Tensor, transB bool, alpha float32) error {
	return r.op(func() error { return r.Backend.BatchMatMul(dst, a, b, transB, alpha) })
}

func (r *Recorder) Conv2D(dst, x, w, bias *kernels.Tensor, p kernels.ConvParams) error {
	return r.op(func() error { return r.Backend.Conv2D(dst, x, w, bias, p) })
}

func (r *Recorder) LayerNorm(dst, x *kernels.Tensor, eps float32) error {
	return r.op(func() error { return r.Backend.LayerNorm(dst, x, eps) })
}

func (r *Recorder) LayerNormModulate(dst, x, shift, scale *kernels.Tensor, eps float32) error {
	return r.op(func() error { return r.Backend.LayerNormModulate(dst, x, shift, scale, eps) })
}

func (r *Recorder) RMSNorm(dst, x, w, b *kernels.Tensor, p kernels.NormParams) error {
	return r.op(func() error { return r.Backend.RMSNorm(dst, x, w, b, p) })
}

func (r *Recorder) Activate(dst, x *kernels.Tensor, act kernels.Act) error {
	return r.op(func() error { return r.Backend.Activate(dst, x, act) })
}

func (r *Recorder) GLU(dst, x *kernels.Tensor, act kernels.Act, gateFirst bool) error {
	return r.op(func() error { return r.Backend.GLU(dst, x, act, gateFirst) })
}

func (r *Recorder) MixFFNConv(dst, u, inBias, dwW, dwBias *kernels.Tensor) error {
	return r.op(func() error { return r.Backend.MixFFNConv(dst, u, inBias, dwW, dwBias) })
}

func (r *Recorder) Softmax(dst, x, mask *kernels.Tensor, softCap float32) error {
	return r.op(func() error { return r.Backend.Softmax(dst, x, mask, softCap) })
}

func (r *Recorder) Attention(dst, q, k, v, mask *kernels.Tensor, p kernels.AttnParams) error {
	return r.op(func() error { return r.Backend.Attention(dst, q, k, v, mask, p) })
}

func (r *Recorder) LinearAttention(dst, q, k, v *kernels.Tensor, p kernels.LinAttnParams) error {
	return r.op(func() error { return r.Backend.LinearAttention(dst, q, k, v, p) })
}

func (r *Recorder) RoPE(dst, x, pos *kernels.Tensor, p kernels.RoPEParams) error {
	return r.op(func() error { return r.Backend.RoPE(dst, x, pos, p) })
}

func (r *Recorder) Embedding(dst, table, ids *kernels.Tensor, scale float32) error {
	return r.op(func() error { return r.Backend.Embedding(dst, table, ids, scale) })
}

func (r *Recorder) TimestepEmbedding(dst, t *kernels.Tensor, p kernels.TimestepParams) error {
	return r.op(func() error { return r.Backend.TimestepEmbedding(dst, t, p) })
}

func (r *Recorder) Add(dst, a, b *kernels.Tensor) error {
	return r.op(func() error { return r.Backend.Add(dst, a, b) })
}

func (r *Recorder) Mul(dst, a, b *kernels.Tensor) error {
	return r.op(func() error { return r.Backend.Mul(dst, a, b) })
}

func (r *Recorder) Axpby(dst, a, b *kernels.Tensor, alpha, beta float32) error {
	return r.op(func() error { return r.Backend.Axpby(dst, a, b, alpha, beta) })
}

func (r *Recorder) Modulate(dst, x, shift, scale *kernels.Tensor) error {
	return r.op(func() error { return r.Backend.Modulate(dst, x, shift, scale) })
}

func (r *Recorder) GatedAdd(dst, x, gate, y *kernels.Tensor) error {
	return r.op(func() error { return r.Backend.GatedAdd(dst, x, gate, y) })
}

func (r *Recorder) PixelShuffle(dst, x *kernels.Tensor, f int) error {
	return r.op(func() error { return r.Backend.PixelShuffle(dst, x, f) })
}

func (r *Recorder) PixelUnshuffle(dst, x *kernels.Tensor, f int) error {
	return r.op(func() error { return r.Backend.PixelUnshuffle(dst, x, f) })
}

func (r *Recorder) UpsampleNearest2x(dst, x *kernels.Tensor) error {
	return r.op(func() error { return r.Backend.UpsampleNearest2x(dst, x) })
}

func (r *Recorder) RepeatChannels(dst, x *kernels.Tensor, f int) error {
	return r.op(func() error { return r.Backend.RepeatChannels(dst, x, f) })
}

func (r *Recorder) Concat(dst *kernels.Tensor, axis int, srcs ...*kernels.Tensor) error {
	return r.op(func() error { return r.Backend.Concat(dst, axis, srcs...) })
}

func (r *Recorder) Split(dsts []*kernels.Tensor, axis int, src *kernels.Tensor) error {
	return r.op(func() error { return r.Backend.Split(dsts, axis, src) })
}

func (r *Recorder) Transpose(dst, x *kernels.Tensor) error {
	return r.op(func() error { return r.Backend.Transpose(dst, x) })
}

func (r *Recorder) Reduce(dst, x *kernels.Tensor, op kernels.ReduceOp) error {
	return r.op(func() error { return r.Backend.Reduce(dst, x, op) })
}
