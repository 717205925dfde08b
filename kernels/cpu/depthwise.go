package cpu

import "github.com/sanafarm/sanafarm/kernels"

// dwChanBlock is the channel block of the depthwise kernel: one block of
// accumulators (2 KiB) stays in L1 while all taps are added.
const dwChanBlock = 512

// depthwise computes a depthwise conv directly, parallel over output rows.
// The weight is widened and transposed to [kh·kw, C] so each tap's
// weights are contiguous across channels like the NHWC input; every inner
// loop then streams over channels.
func (b *Backend) depthwise(d kernels.ConvDims, out, x []float32, w *kernels.Tensor, bias []float32) {
	c, taps := d.Cin, d.KH*d.KW
	wf := floatsOf(w)
	wt := make([]float32, taps*c)
	for ch := range c {
		for t := range taps {
			wt[t*c+ch] = wf[ch*taps+t]
		}
	}
	b.parallelFor(d.B*d.Ho, 1, func(lo, hi int) {
		xo := make([]int, 0, taps) // input offsets of the valid taps
		wo := make([]int, 0, taps) // matching weight offsets
		for row := lo; row < hi; row++ {
			bi, oy := row/d.Ho, row%d.Ho
			for ox := range d.Wo {
				xo, wo = dwTaps(d, xo[:0], wo[:0], bi, oy, ox)
				o := out[((row)*d.Wo+ox)*c : ((row)*d.Wo+ox+1)*c]
				dwPixel(o, x, wt, bias, xo, wo, b.simd)
			}
		}
	})
}

// dwTaps lists the in-bounds taps of output pixel (bi, oy, ox) as offsets
// into x (pixel start) and into the transposed weight.
func dwTaps(d kernels.ConvDims, xo, wo []int, bi, oy, ox int) ([]int, []int) {
	for ky := range d.KH {
		iy := oy*d.Stride - d.Pad + ky
		if iy < 0 || iy >= d.H {
			continue
		}
		for kx := range d.KW {
			ix := ox*d.Stride - d.Pad + kx
			if ix < 0 || ix >= d.W {
				continue
			}
			xo = append(xo, ((bi*d.H+iy)*d.W+ix)*d.Cin)
			wo = append(wo, (ky*d.KW+kx)*d.Cin)
		}
	}
	return xo, wo
}

// dwPixel computes one output pixel o (all channels) from the listed taps.
// The SIMD kernel keeps accumulators in registers across all taps; the
// channels it leaves (a tail below 8, or everything without SIMD) go
// through dwPixelGo.
func dwPixel(o, x, wt, bias []float32, xo, wo []int, simd bool) {
	if bias != nil {
		copy(o, bias)
	} else {
		clear(o)
	}
	done := 0
	if simd {
		done = dwTapsSIMD(o, x, wt, xo, wo)
	}
	if done < len(o) {
		dwPixelGo(o[done:], x[done:], wt[done:], xo, wo)
	}
}

// dwPixelGo adds the taps to o channel block by channel block (the block
// of accumulators stays in L1), three taps per pass.
func dwPixelGo(o, x, wt []float32, xo, wo []int) {
	for c0 := 0; c0 < len(o); c0 += dwChanBlock {
		acc := o[c0:min(c0+dwChanBlock, len(o))]
		t := 0
		for ; t+3 <= len(xo); t += 3 {
			dwAcc3(acc, x[xo[t]+c0:], wt[wo[t]+c0:], x[xo[t+1]+c0:], wt[wo[t+1]+c0:], x[xo[t+2]+c0:], wt[wo[t+2]+c0:])
		}
		for ; t < len(xo); t++ {
			dwAcc1(acc, x[xo[t]+c0:], wt[wo[t]+c0:])
		}
	}
}

// dwAcc3 adds three taps: acc += x0·w0 + x1·w1 + x2·w2.
func dwAcc3(acc, x0, w0, x1, w1, x2, w2 []float32) {
	n := len(acc)
	x0, w0, x1, w1, x2, w2 = x0[:n], w0[:n], x1[:n], w1[:n], x2[:n], w2[:n]
	for i := range acc {
		acc[i] += x0[i]*w0[i] + x1[i]*w1[i] + x2[i]*w2[i]
	}
}

// dwAcc1 adds one tap: acc += x0·w0.
func dwAcc1(acc, x0, w0 []float32) {
	n := len(acc)
	x0, w0 = x0[:n], w0[:n]
	for i := range acc {
		acc[i] += x0[i] * w0[i]
	}
}
