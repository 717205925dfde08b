package sana

import (
	"fmt"
	"math"
)

// aspectBin is one entry of diffusers' ASPECT_RATIO_*_BIN tables: the
// aspect ratio height/width and the (height, width) generated for it.
type aspectBin struct {
	ratio         float64
	height, width int
}

// binTable returns the aspect-ratio table of a transformer sample_size
// (16 → 512 px, 32 → 1024, 64 → 2048, 128 → 4096).
func binTable(sampleSize int) ([]aspectBin, error) {
	switch sampleSize {
	case 16:
		return bin512, nil
	case 32:
		return bin1024, nil
	case 64:
		return bin2048, nil
	case 128:
		return bin4096, nil
	}
	return nil, fmt.Errorf("resolution binning: sample_size %d has no aspect-ratio table (want 16, 32, 64 or 128)", sampleSize)
}

// BinSize is diffusers' classify_height_width_bin: the (height, width) of
// the table entry whose ratio is closest to height/width (first on ties).
func BinSize(sampleSize, height, width int) (int, int, error) {
	table, err := binTable(sampleSize)
	if err != nil {
		return 0, 0, err
	}
	if height <= 0 || width <= 0 {
		return 0, 0, fmt.Errorf("resolution binning: size %dx%d must be positive", width, height)
	}
	ar := float64(height) / float64(width)
	best := table[0]
	for _, b := range table[1:] {
		if math.Abs(b.ratio-ar) < math.Abs(best.ratio-ar) {
			best = b
		}
	}
	return best.height, best.width, nil
}

// resizeAndCrop is diffusers' resize_and_crop_tensor on one NCHW float32
// image batch: scale by max(newH/H, newW/W) with bilinear interpolation
// (align_corners=False, no antialias) to (int(H·r), int(W·r)), then crop
// the centre newH×newW.
func resizeAndCrop(src []float32, n, c, h, w, newH, newW int) []float32 {
	if h == newH && w == newW {
		return src
	}
	r := math.Max(float64(newH)/float64(h), float64(newW)/float64(w))
	rh, rw := int(float64(h)*r), int(float64(w)*r)
	y0, x0 := (rh-newH)/2, (rw-newW)/2
	ys := bilinearTaps(h, rh)
	xs := bilinearTaps(w, rw)
	out := make([]float32, n*c*newH*newW)
	for p := 0; p < n*c; p++ {
		plane := src[p*h*w : (p+1)*h*w]
		dst := out[p*newH*newW : (p+1)*newH*newW]
		for y := 0; y < newH; y++ {
			ty := ys[y+y0]
			r0, r1 := plane[ty.i0*w:ty.i0*w+w], plane[ty.i1*w:ty.i1*w+w]
			for x := 0; x < newW; x++ {
				tx := xs[x+x0]
				top := tx.l0*r0[tx.i0] + tx.l1*r0[tx.i1]
				bot := tx.l0*r1[tx.i0] + tx.l1*r1[tx.i1]
				dst[y*newW+x] = ty.l0*top + ty.l1*bot
			}
		}
	}
	return out
}

// tap is one output coordinate's two source indices and weights.
type tap struct {
	i0, i1 int
	l0, l1 float32
}

// bilinearTaps follows PyTorch's upsample_bilinear2d (align_corners=False,
// output size given): src = (dst + 0.5)·in/out − 0.5 clamped at 0.
func bilinearTaps(in, out int) []tap {
	scale := float32(in) / float32(out)
	taps := make([]tap, out)
	for d := range taps {
		s := max(scale*(float32(d)+0.5)-0.5, 0)
		i0 := int(s)
		i1 := min(i0+1, in-1)
		l1 := s - float32(i0)
		taps[d] = tap{i0: i0, i1: i1, l0: 1 - l1, l1: l1}
	}
	return taps
}

var bin512 = []aspectBin{
	{0.25, 256, 1024}, {0.28, 256, 928}, {0.32, 288, 896}, {0.33, 288, 864}, {0.35, 288, 832},
	{0.4, 320, 800}, {0.42, 320, 768}, {0.48, 352, 736}, {0.5, 352, 704}, {0.52, 352, 672},
	{0.57, 384, 672}, {0.6, 384, 640}, {0.68, 416, 608}, {0.72, 416, 576}, {0.78, 448, 576},
	{0.82, 448, 544}, {0.88, 480, 544}, {0.94, 480, 512}, {1.0, 512, 512}, {1.07, 512, 480},
	{1.13, 544, 480}, {1.21, 544, 448}, {1.29, 576, 448}, {1.38, 576, 416}, {1.46, 608, 416},
	{1.67, 640, 384}, {1.75, 672, 384}, {2.0, 704, 352}, {2.09, 736, 352}, {2.4, 768, 320},
	{2.5, 800, 320}, {3.0, 864, 288}, {4.0, 1024, 256},
}

var bin1024 = []aspectBin{
	{0.25, 512, 2048}, {0.28, 512, 1856}, {0.32, 576, 1792}, {0.33, 576, 1728}, {0.35, 576, 1664},
	{0.4, 640, 1600}, {0.42, 640, 1536}, {0.48, 704, 1472}, {0.5, 704, 1408}, {0.52, 704, 1344},
	{0.57, 768, 1344}, {0.6, 768, 1280}, {0.68, 832, 1216}, {0.72, 832, 1152}, {0.78, 896, 1152},
	{0.82, 896, 1088}, {0.88, 960, 1088}, {0.94, 960, 1024}, {1.0, 1024, 1024}, {1.07, 1024, 960},
	{1.13, 1088, 960}, {1.21, 1088, 896}, {1.29, 1152, 896}, {1.38, 1152, 832}, {1.46, 1216, 832},
	{1.67, 1280, 768}, {1.75, 1344, 768}, {2.0, 1408, 704}, {2.09, 1472, 704}, {2.4, 1536, 640},
	{2.5, 1600, 640}, {3.0, 1728, 576}, {4.0, 2048, 512},
}

var bin2048 = []aspectBin{
	{0.25, 1024, 4096}, {0.26, 1024, 3968}, {0.27, 1024, 3840}, {0.28, 1024, 3712}, {0.32, 1152, 3584},
	{0.33, 1152, 3456}, {0.35, 1152, 3328}, {0.4, 1280, 3200}, {0.42, 1280, 3072}, {0.48, 1408, 2944},
	{0.5, 1408, 2816}, {0.52, 1408, 2688}, {0.57, 1536, 2688}, {0.6, 1536, 2560}, {0.68, 1664, 2432},
	{0.72, 1664, 2304}, {0.78, 1792, 2304}, {0.82, 1792, 2176}, {0.88, 1920, 2176}, {0.94, 1920, 2048},
	{1.0, 2048, 2048}, {1.07, 2048, 1920}, {1.13, 2176, 1920}, {1.21, 2176, 1792}, {1.29, 2304, 1792},
	{1.38, 2304, 1664}, {1.46, 2432, 1664}, {1.67, 2560, 1536}, {1.75, 2688, 1536}, {2.0, 2816, 1408},
	{2.09, 2944, 1408}, {2.4, 3072, 1280}, {2.5, 3200, 1280}, {2.89, 3328, 1152}, {3.0, 3456, 1152},
	{3.11, 3584, 1152}, {3.62, 3712, 1024}, {3.75, 3840, 1024}, {3.88, 3968, 1024}, {4.0, 4096, 1024},
}

var bin4096 = []aspectBin{
	{0.25, 2048, 8192}, {0.26, 2048, 7936}, {0.27, 2048, 7680}, {0.28, 2048, 7424}, {0.32, 2304, 7168},
	{0.33, 2304, 6912}, {0.35, 2304, 6656}, {0.4, 2560, 6400}, {0.42, 2560, 6144}, {0.48, 2816, 5888},
	{0.5, 2816, 5632}, {0.52, 2816, 5376}, {0.57, 3072, 5376}, {0.6, 3072, 5120}, {0.68, 3328, 4864},
	{0.72, 3328, 4608}, {0.78, 3584, 4608}, {0.82, 3584, 4352}, {0.88, 3840, 4352}, {0.94, 3840, 4096},
	{1.0, 4096, 4096}, {1.07, 4096, 3840}, {1.13, 4352, 3840}, {1.21, 4352, 3584}, {1.29, 4608, 3584},
	{1.38, 4608, 3328}, {1.46, 4864, 3328}, {1.67, 5120, 3072}, {1.75, 5376, 3072}, {2.0, 5632, 2816},
	{2.09, 5888, 2816}, {2.4, 6144, 2560}, {2.5, 6400, 2560}, {2.89, 6656, 2304}, {3.0, 6912, 2304},
	{3.11, 7168, 2304}, {3.62, 7424, 2048}, {3.75, 7680, 2048}, {3.88, 7936, 2048}, {4.0, 8192, 2048},
}
