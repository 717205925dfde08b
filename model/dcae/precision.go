package dcae

import "github.com/sanafarm/sanafarm/kernels"

// matrices lists the weights rounded to bf16 in kernels.PrecisionBF16:
// those of every MatMul (the fused qkv, to_out, conv_inverted, conv_point)
// and of every dense or 1×1 Conv2D (conv_in/conv_out, ResBlock convs, the
// up/down-sampling convs, the grouped 1×1 multi-scale proj_out). The
// depthwise convs (conv_depth, multi-scale proj_in), norms and biases
// stay F32: they are not products a tensor core runs.
func (w *Weights) matrices() []**kernels.Tensor {
	var ms []**kernels.Tensor
	stages := func(ss []stage) {
		for i := range ss {
			if ss[i].resample != nil {
				ms = append(ms, &ss[i].resample.w)
			}
			for _, l := range ss[i].layers {
				ms = append(ms, l.matrices()...)
			}
		}
	}
	if e := w.enc; e != nil {
		ms = append(ms, &e.convIn.w, &e.convOut.w)
		stages(e.stages)
	}
	if d := w.dec; d != nil {
		ms = append(ms, &d.convIn.w, &d.convOut.w)
		stages(d.stages)
	}
	return ms
}

func (l layer) matrices() []**kernels.Tensor {
	if r := l.res; r != nil {
		return []**kernels.Tensor{&r.conv1.w, &r.conv2.w}
	}
	v := l.vit
	ms := []**kernels.Tensor{&v.qkv, &v.out, &v.inv.w, &v.point}
	for i := range v.ms {
		ms = append(ms, &v.ms[i].pw)
	}
	return ms
}
