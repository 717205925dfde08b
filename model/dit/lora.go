package dit

import (
	"fmt"
	"maps"
	"slices"

	"github.com/sanafarm/sanafarm/kernels"
)

// LoRA is an unfused low-rank term of a Linear or 1×1-conv layer: the
// forward adds Scale·(x·Aᵀ)·Bᵀ to the layer's output, after the bias, as
// peft's lora.Linear does. A is F32 [r, in], B F32 [out, r].
type LoRA struct {
	A, B  *kernels.Tensor
	Scale float32
}

// LoRAModules lists, sorted, the module paths (diffusers names, without
// the ".weight") that AddLoRA accepts.
func (w *Weights) LoRAModules() []string {
	return slices.Sorted(maps.Keys(w.linears()))
}

// AddLoRA attaches t to the layer named module (e.g.
// "transformer_blocks.0.attn1.to_q" or "transformer_blocks.0.ff.conv_inverted");
// terms are applied in the order they were added. Unknown modules and
// shapes that do not match the layer are errors.
func (w *Weights) AddLoRA(module string, t LoRA) error {
	l, ok := w.linears()[module]
	if !ok {
		return fmt.Errorf("no Linear or 1×1-conv module %q in the transformer", module)
	}
	out, in := l.w.Dim(0), l.w.Dim(1)
	if t.A == nil || t.B == nil || t.A.Rank() != 2 || t.B.Rank() != 2 || t.A.Dim(1) != in || t.B.Dim(0) != out || t.A.Dim(0) != t.B.Dim(1) ||
		t.A.DType() != kernels.Float32 || t.B.DType() != kernels.Float32 {
		return fmt.Errorf("module %s has weight %v: LoRA A %v and B %v do not fit (want F32 [r, %d] and [%d, r])", module, l.w.Shape(), shapeOf(t.A), shapeOf(t.B), in, out)
	}
	l.lora = append(l.lora, t)
	return nil
}

func shapeOf(t *kernels.Tensor) []int {
	if t == nil {
		return nil
	}
	return t.Shape()
}

// hasLoRA reports unfused LoRA terms on any layer.
func (w *Weights) hasLoRA() bool {
	for _, l := range w.linears() {
		if len(l.lora) > 0 {
			return true
		}
	}
	return false
}

// matrices lists the weight of every Linear and 1×1 conv (linears): what
// MatMul multiplies by, rounded to bf16 in kernels.PrecisionBF16. Biases,
// tables, norms, the depthwise conv and unfused LoRA factors are not
// listed: the factors are rank-r matrices that AddLoRA documents as F32
// and that cost next to nothing next to the layer's own product.
func (w *Weights) matrices() []**kernels.Tensor {
	var ms []**kernels.Tensor
	for _, l := range w.linears() {
		ms = append(ms, &l.w)
	}
	return ms
}

// linears maps the diffusers module paths of every Linear (and 1×1 conv
// stored as one) to its binding.
func (w *Weights) linears() map[string]*linear {
	m := map[string]*linear{
		"patch_embed.proj":            &w.patch,
		"caption_projection.linear_1": &w.caption.l1,
		"caption_projection.linear_2": &w.caption.l2,
		"time_embed.linear":           &w.timeLinear,
		"proj_out":                    &w.projOut,
	}
	te := "time_embed.emb.timestep_embedder."
	if w.guideEmb != nil {
		te = "time_embed.timestep_embedder."
		m["time_embed.guidance_embedder.linear_1"] = &w.guideEmb.l1
		m["time_embed.guidance_embedder.linear_2"] = &w.guideEmb.l2
	}
	m[te+"linear_1"], m[te+"linear_2"] = &w.timeEmb.l1, &w.timeEmb.l2
	for i := range w.blocks {
		b := &w.blocks[i]
		p := fmt.Sprintf("transformer_blocks.%d.", i)
		for name, l := range map[string]*linear{
			"attn1.to_q": &b.q1, "attn1.to_k": &b.k1, "attn1.to_v": &b.v1, "attn1.to_out.0": &b.o1,
			"attn2.to_q": &b.q2, "attn2.to_k": &b.k2, "attn2.to_v": &b.v2, "attn2.to_out.0": &b.o2,
			"ff.conv_inverted": &b.ffIn, "ff.conv_point": &b.ffOut,
		} {
			m[p+name] = l
		}
	}
	return m
}

// addLoRA adds l's unfused LoRA terms to dst = x·Wᵀ + b.
func (r *run) addLoRA(dst, x *kernels.Tensor, l linear) {
	lead := x.Shape()[:x.Rank()-1]
	for _, t := range l.lora {
		mid := r.alloc(append(append([]int(nil), lead...), t.A.Dim(0))...)
		up := r.alloc(dst.Shape()...)
		if r.err != nil {
			return
		}
		r.do(func() error { return r.be.MatMul(mid, x, t.A, nil) })
		r.do(func() error { return r.be.MatMul(up, mid, t.B, nil) })
		r.do(func() error { return r.be.Axpby(dst, dst, up, 1, t.Scale) })
	}
}
