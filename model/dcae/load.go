package dcae

import (
	"errors"
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/weights"
)

// Part selects which half of the autoencoder Load binds (the Sana
// text-to-image pipeline needs only the decoder, half of the 1.25 GB).
type Part uint8

// Parts.
const (
	PartEncoder Part = 1 << iota
	PartDecoder
	PartAll = PartEncoder | PartDecoder
)

// conv is a Conv2D: w OHWI [Cout, kh, kw, Cin/g] in its stored dtype, b [Cout] F32 or nil.
type conv struct{ w, b *kernels.Tensor }

// linear is a Linear (or 1×1 conv): w [out, in] in its stored dtype, b F32 or nil.
type linear struct{ w, b *kernels.Tensor }

// norm is an RMSNorm's weight and bias [C], F32.
type norm struct{ w, b *kernels.Tensor }

type resBlock struct {
	conv1, conv2 conv // conv2 has no bias
	norm         norm
	act          kernels.Act
}

// msProj is one multi-scale branch: depthwise k×k then grouped 1×1.
type msProj struct {
	k      int
	dw, pw *kernels.Tensor // OHWI [3I, k, k, 1] and [3I, 1, 1, Dh]
}

type vitBlock struct {
	heads   int             // I / Dh
	qkv     *kernels.Tensor // fused [to_q; to_k; to_v] [3I, C]
	ms      []msProj
	out     *kernels.Tensor // to_out [C, I·(1+len(ms))]
	normOut norm
	inv     linear          // conv_out.conv_inverted [8C, C] + bias
	depth   conv            // conv_out.conv_depth OHWI [8C, 3, 3, 1] + bias
	point   *kernels.Tensor // conv_out.conv_point [C, 4C]
	ffNorm  norm
}

// layer is one block of a stage: exactly one of res, vit is set.
type layer struct {
	res *resBlock
	vit *vitBlock
}

type stage struct {
	ch       int
	resample *conv // decoder: DCUpBlock2d conv (stage < last); encoder: DCDownBlock2d conv
	layers   []layer
}

type encoderW struct {
	convIn, convOut conv
	stages          []stage
}

type decoderW struct {
	convIn, convOut conv
	stages          []stage
	normOut         norm
	convAct         kernels.Act
}

// Weights are the bound tensors of one autoencoder (either half may be nil).
type Weights struct {
	enc *encoderW
	dec *decoderW
}

// binder wraps weights.Loader: matrices keep their stored dtype, vectors
// are widened to F32 once, conv kernels are converted to OHWI.
type binder struct {
	l    *weights.Loader
	errs []error
}

func (b *binder) vector(name string, n int) *kernels.Tensor { return b.l.GetF32(name, n) }

// conv binds prefix.weight [cout, cinG, k, k] (+ prefix.bias).
func (b *binder) conv(prefix string, cout, cinG, k int, bias bool) conv {
	var c conv
	if t := b.l.Get(prefix+".weight", cout, cinG, k, k); t != nil {
		w, err := kernels.OIHWToOHWI(t)
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s.weight: %w", prefix, err))
		}
		c.w = w
	}
	if bias {
		c.b = b.vector(prefix+".bias", cout)
	}
	return c
}

// matrix binds a Linear weight [out, in] or a 1×1 conv [out, in, 1, 1] as [out, in].
func (b *binder) matrix(name string, shape ...int) *kernels.Tensor {
	t := b.l.Get(name, shape...)
	if t == nil {
		return nil
	}
	return t.MustReshape(shape[0], shape[1])
}

func (b *binder) norm(prefix string, c int) norm {
	return norm{w: b.vector(prefix+".weight", c), b: b.vector(prefix+".bias", c)}
}

// Load binds every tensor of the selected parts from src (diffusers key
// names) and reports all missing or mis-shaped tensors at once.
func Load(c Config, src weights.Source, origin string, parts Part) (*Weights, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if parts&PartAll == 0 {
		return nil, fmt.Errorf("dcae: load %s: no part selected", origin)
	}
	b := &binder{l: weights.NewLoader(src, origin)}
	w := &Weights{}
	if parts&PartEncoder != 0 {
		w.enc = bindEncoder(b, c)
	}
	if parts&PartDecoder != 0 {
		w.dec = bindDecoder(b, c)
	}
	if err := errors.Join(append([]error{b.l.Err()}, b.errs...)...); err != nil {
		return nil, fmt.Errorf("dcae: binding weights: %w", err)
	}
	return w, nil
}

func bindEncoder(b *binder, c Config) *encoderW {
	st := c.encoderStages()
	n := len(st)
	e := &encoderW{
		convIn:  b.conv("encoder.conv_in", st[0].channels, c.InChannels, 3, true),
		convOut: b.conv("encoder.conv_out", c.LatentChannels, st[n-1].channels, 3, true),
	}
	for i, sd := range st {
		p := fmt.Sprintf("encoder.down_blocks.%d.", i)
		s := stage{ch: sd.channels}
		for j := range sd.layers {
			s.layers = append(s.layers, bindLayer(b, c, sd, fmt.Sprintf("%s%d", p, j)))
		}
		if i < n-1 { // DCDownBlock2d follows the blocks
			cv := b.conv(fmt.Sprintf("%s%d.conv", p, sd.layers), st[i+1].channels, sd.channels, 3, true)
			s.resample = &cv
		}
		e.stages = append(e.stages, s)
	}
	return e
}

func bindDecoder(b *binder, c Config) *decoderW {
	st := c.decoderStages()
	n := len(st)
	act, _ := activation(c.DecoderConvActFn)
	d := &decoderW{
		convIn:  b.conv("decoder.conv_in", st[n-1].channels, c.LatentChannels, 3, true),
		normOut: b.norm("decoder.norm_out", st[0].channels),
		convOut: b.conv("decoder.conv_out", c.InChannels, st[0].channels, 3, true),
		convAct: act,
	}
	for i, sd := range st {
		p := fmt.Sprintf("decoder.up_blocks.%d.", i)
		s := stage{ch: sd.channels}
		first := 0
		if i < n-1 { // DCUpBlock2d comes first
			cv := b.conv(p+"0.conv", sd.channels, st[i+1].channels, 3, true)
			s.resample, first = &cv, 1
		}
		for j := range sd.layers {
			s.layers = append(s.layers, bindLayer(b, c, sd, fmt.Sprintf("%s%d", p, first+j)))
		}
		d.stages = append(d.stages, s)
	}
	return d
}

func bindLayer(b *binder, c Config, sd stageDesc, p string) layer {
	C := sd.channels
	if sd.block == "ResBlock" {
		return layer{res: &resBlock{
			conv1: b.conv(p+".conv1", C, C, 3, true),
			conv2: b.conv(p+".conv2", C, C, 3, false),
			norm:  b.norm(p+".norm", C),
			act:   sd.act,
		}}
	}
	return layer{vit: bindViT(b, c, sd, p)}
}

func bindViT(b *binder, c Config, sd stageDesc, p string) *vitBlock {
	C, Dh := sd.channels, c.AttentionHeadDim
	I := C // heads = C/Dh (mult 1), inner = heads·Dh
	v := &vitBlock{
		heads:   I / Dh,
		out:     b.matrix(p+".attn.to_out.weight", C, I*(1+len(sd.scales))),
		normOut: b.norm(p+".attn.norm_out", C),
		inv:     linear{w: b.matrix(p+".conv_out.conv_inverted.weight", 8*C, C, 1, 1), b: b.vector(p+".conv_out.conv_inverted.bias", 8*C)},
		depth:   b.conv(p+".conv_out.conv_depth", 8*C, 1, 3, true),
		point:   b.matrix(p+".conv_out.conv_point.weight", C, 4*C, 1, 1),
		ffNorm:  b.norm(p+".conv_out.norm", C),
	}
	q, k, vv := b.matrix(p+".attn.to_q.weight", I, C), b.matrix(p+".attn.to_k.weight", I, C), b.matrix(p+".attn.to_v.weight", I, C)
	if q != nil && k != nil && vv != nil {
		fused, err := concatRows(q, k, vv)
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s.attn: fusing to_q/to_k/to_v: %w", p, err))
		}
		v.qkv = fused
	}
	for i, k := range sd.scales {
		mp := fmt.Sprintf("%s.attn.to_qkv_multiscale.%d.", p, i)
		pr := msProj{k: k}
		if t := b.l.Get(mp+"proj_in.weight", 3*I, 1, k, k); t != nil {
			pr.dw = t.MustReshape(3*I, k, k, 1) // Cin/g = 1: OIHW ≡ OHWI
		}
		if t := b.l.Get(mp+"proj_out.weight", 3*I, Dh, 1, 1); t != nil {
			pr.pw = t.MustReshape(3*I, 1, 1, Dh)
		}
		v.ms = append(v.ms, pr)
	}
	return v
}

// concatRows stacks matrices [n_i, K] into [Σn_i, K]: the three row-thirds
// of the original fused qkv conv, whose per-head q/k/v interleave only
// exists in the fused output. 16-bit weights stay 16-bit when all agree.
func concatRows(ts ...*kernels.Tensor) (*kernels.Tensor, error) {
	rows, K, dt := 0, ts[0].Dim(1), ts[0].DType()
	for _, t := range ts {
		if t.Dim(1) != K {
			return nil, fmt.Errorf("matrices %v and %v differ in width", ts[0], t)
		}
		rows += t.Dim(0)
		if t.DType() != dt {
			dt = kernels.Float32
		}
	}
	if dt.IsHalf() {
		var u []uint16
		for _, t := range ts {
			u = append(u, t.U16()...)
		}
		return kernels.FromU16(dt, u, rows, K)
	}
	var f []float32
	for _, t := range ts {
		w, err := t.ToF32()
		if err != nil {
			return nil, err
		}
		f = append(f, w.F32()...)
	}
	return kernels.FromF32(f, rows, K)
}
