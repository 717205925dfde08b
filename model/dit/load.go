package dit

import (
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/weights"
)

// linear is a Linear layer: w [out, in] in its stored dtype, b [out] F32 or nil.
type linear struct {
	w, b *kernels.Tensor
	lora []LoRA // unfused LoRA terms (lora.go); empty when fused or absent
}

type mlp struct{ l1, l2 linear } // Linear → act → Linear

type block struct {
	sst                *kernels.Tensor // [6, D]
	q1, k1, v1, o1     linear          // attn1 (linear attention)
	q2, k2, v2, o2     linear          // attn2 (cross attention)
	nq1, nk1, nq2, nk2 *kernels.Tensor // qk-norm weights [D] (nil without qk-norm)
	ffIn, ffOut        linear          // 1×1 convs as [out, in] matrices
	ffDepthW, ffDepthB *kernels.Tensor // depthwise 3×3 as OHWI [2h, 3, 3, 1], bias [2h]
}

// Weights are the bound tensors of one transformer.
type Weights struct {
	patch      linear
	timeEmb    mlp  // timestep_embedder
	guideEmb   *mlp // Sprint only
	timeLinear linear
	caption    mlp
	captionNrm *kernels.Tensor
	sstShift   *kernels.Tensor // scale_shift_table row 0 [D]
	sstScale   *kernels.Tensor // scale_shift_table row 1 [D]
	projOut    linear
	blocks     []block
	part       part // tensor-parallel slice held (zero: all of it)
	trunk      bool // no final layer (LoadTrunk)
}

// binder wraps weights.Loader: matrices keep their stored dtype (bf16/fp16
// weights stay 16-bit), small vectors are widened to F32 once.
type binder struct{ l *weights.Loader }

func (b binder) matrix(name string, shape ...int) *kernels.Tensor {
	t := b.l.Get(name, shape...)
	if t == nil {
		return nil
	}
	if len(shape) == 4 { // [out, in, 1, 1] 1×1 conv, or depthwise [C, 1, k, k]
		if shape[2] == 1 && shape[3] == 1 {
			return t.MustReshape(shape[0], shape[1])
		}
		return t.MustReshape(shape[0], shape[2], shape[3], shape[1]) // Cin/g = 1: OIHW ≡ OHWI
	}
	return t
}

func (b binder) vector(name string, shape ...int) *kernels.Tensor { return b.l.GetF32(name, shape...) }

func (b binder) linear(prefix string, out, in int, bias bool) linear {
	l := linear{w: b.matrix(prefix+".weight", out, in)}
	if bias {
		l.b = b.vector(prefix+".bias", out)
	}
	return l
}

func (b binder) mlp(prefix string, out, in int) mlp {
	return mlp{l1: b.linear(prefix+".linear_1", out, in, true), l2: b.linear(prefix+".linear_2", out, out, true)}
}

// Load binds every tensor the config requires from src and reports all
// missing or mis-shaped tensors at once.
func Load(c Config, src weights.Source, origin string) (*Weights, error) {
	return load(c, src, origin, true)
}

// LoadTrunk binds what SanaControlNetModel shares with the transformer:
// every tensor but the final layer (scale_shift_table, proj_out). Models
// of trunk weights run EmbedPatches, EmbedTime, PrepareCond and RunBlock,
// not Forward.
func LoadTrunk(c Config, src weights.Source, origin string) (*Weights, error) {
	return load(c, src, origin, false)
}

func load(c Config, src weights.Source, origin string, final bool) (*Weights, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b := binder{weights.NewLoader(src, origin)}
	D, Cin := c.Dim(), c.InChannels
	w := &Weights{
		patch: linear{w: b.matrix("patch_embed.proj.weight", D, Cin, 1, 1), b: b.vector("patch_embed.proj.bias", D)},
		caption: mlp{
			l1: b.linear("caption_projection.linear_1", D, c.CaptionChannels, true),
			l2: b.linear("caption_projection.linear_2", D, D, true),
		},
		captionNrm: b.vector("caption_norm.weight", D),
		timeLinear: b.linear("time_embed.linear", 6*D, D, true),
		trunk:      !final,
	}
	if final {
		w.projOut = b.linear("proj_out", c.Out(), D, true)
		if sst := b.vector("scale_shift_table", 2, D); sst != nil {
			w.sstShift, _ = sst.SliceLeading(0)
			w.sstScale, _ = sst.SliceLeading(1)
		}
	}
	if c.GuidanceEmbeds {
		w.timeEmb = b.mlp("time_embed.timestep_embedder", D, 256)
		g := b.mlp("time_embed.guidance_embedder", D, 256)
		w.guideEmb = &g
	} else {
		w.timeEmb = b.mlp("time_embed.emb.timestep_embedder", D, 256)
	}
	for i := 0; i < c.NumLayers; i++ {
		w.blocks = append(w.blocks, bindBlock(b, c, fmt.Sprintf("transformer_blocks.%d.", i)))
	}
	if err := b.l.Err(); err != nil {
		return nil, err
	}
	return w, nil
}

func bindBlock(b binder, c Config, p string) block {
	D, H := c.Dim(), c.Hidden()
	bl := block{
		sst: b.vector(p+"scale_shift_table", 6, D),
		q1:  b.linear(p+"attn1.to_q", D, D, false),
		k1:  b.linear(p+"attn1.to_k", D, D, false),
		v1:  b.linear(p+"attn1.to_v", D, D, false),
		o1:  b.linear(p+"attn1.to_out.0", D, D, true),
		q2:  b.linear(p+"attn2.to_q", D, D, true),
		k2:  b.linear(p+"attn2.to_k", D, D, true),
		v2:  b.linear(p+"attn2.to_v", D, D, true),
		o2:  b.linear(p+"attn2.to_out.0", D, D, true),
		ffIn: linear{w: b.matrix(p+"ff.conv_inverted.weight", 2*H, D, 1, 1),
			b: b.vector(p+"ff.conv_inverted.bias", 2*H)},
		ffDepthW: b.matrix(p+"ff.conv_depth.weight", 2*H, 1, 3, 3),
		ffDepthB: b.vector(p+"ff.conv_depth.bias", 2*H),
		ffOut:    linear{w: b.matrix(p+"ff.conv_point.weight", D, H, 1, 1)},
	}
	if c.HasQKNorm() {
		bl.nq1 = b.vector(p+"attn1.norm_q.weight", D)
		bl.nk1 = b.vector(p+"attn1.norm_k.weight", D)
		bl.nq2 = b.vector(p+"attn2.norm_q.weight", D)
		bl.nk2 = b.vector(p+"attn2.norm_k.weight", D)
	}
	return bl
}
