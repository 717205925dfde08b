package dcae

import (
	"context"
	"math"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
)

func TestTiledCoveringTileIsDecode(t *testing.T) {
	m := goldenModel(t, cpu.New(cpu.Config{}))
	z := mustTensor(t, openFile(t, "inputs.safetensors"), "latent") // [2, 8, 4, 3]
	ref, err := m.Decode(context.Background(), z)
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range []TileOptions{{4, 4}, {4, 2}, {8, 1}} {
		got, err := m.DecodeTiled(context.Background(), z, opt)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(got, ref); d != 0 {
			t.Errorf("%+v: tile covers the latent, but differs from Decode by %g", opt, d)
		}
	}
}

// TestTiledMatchesDiffusers decodes the golden latent with small tiles and
// checks the memory-bounded loop against a literal transcription of
// diffusers' tiled_decode (all tiles kept, blended in place). The
// difference to the untiled decode is logged: it is large because the tiny
// random decoder has global attention and no smoothness.
func TestTiledMatchesDiffusers(t *testing.T) {
	m := goldenModel(t, cpu.New(cpu.Config{}))
	z := mustTensor(t, openFile(t, "inputs.safetensors"), "latent") // [2, 8, 4, 3]
	ref, err := m.Decode(context.Background(), z)
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range []TileOptions{{2, 1}, {3, 2}, {2, 2}, {3, 1}} {
		got, err := m.DecodeTiled(context.Background(), z, opt)
		if err != nil {
			t.Fatal(err)
		}
		want := diffusersTiled(t, m, z, opt)
		if !equalInts(got.Shape(), ref.Shape()) {
			t.Fatalf("%+v: shape %v, want %v", opt, got.Shape(), ref.Shape())
		}
		if d := maxDiff(got, want); d != 0 {
			t.Errorf("%+v: differs from the diffusers transcription by %g", opt, d)
		}
		t.Logf("tile %d stride %d (blend %d px): max |tiled − untiled| = %.3g (max |untiled| %.3g)",
			opt.TileLatent, opt.StrideLatent, (opt.TileLatent-opt.StrideLatent)*32, maxDiff(got, ref), maxAbsOf(ref))
	}
}

// diffusersTiled transcribes AutoencoderDC.tiled_decode.
func diffusersTiled(t *testing.T, m *Model, z *kernels.Tensor, opt TileOptions) *kernels.Tensor {
	f := m.cfg.Compression()
	h, w := z.Dim(2), z.Dim(3)
	var rows [][]*kernels.Tensor
	for i := 0; i < h; i += opt.StrideLatent {
		var row []*kernels.Tensor
		for j := 0; j < w; j += opt.StrideLatent {
			tile, err := m.Decode(context.Background(), window(z, i, j, min(opt.TileLatent, h-i), min(opt.TileLatent, w-j)))
			if err != nil {
				t.Fatal(err)
			}
			row = append(row, tile)
		}
		rows = append(rows, row)
	}
	out := kernels.MustNew(kernels.Float32, z.Dim(0), m.cfg.InChannels, h*f, w*f)
	blend := (opt.TileLatent - opt.StrideLatent) * f
	for i, row := range rows {
		for j, tile := range row {
			if i > 0 {
				blendRows(rows[i-1][j], tile, blend)
			}
			if j > 0 {
				blendCols(row[j-1], tile, blend)
			}
			paste(out, tile, i*opt.StrideLatent*f, j*opt.StrideLatent*f, opt.StrideLatent*f)
		}
	}
	return out
}

// TestTiledBlendIsSeamless runs the tile loop with a smooth stand-in
// decoder whose tiles disagree by a per-tile offset (as real tiles
// disagree). Along a border, blending spreads the disagreement Δ over the
// blend width; where a tile's top and left blends overlap, diffusers
// blends with neighbours that are themselves already blended, which
// leaves a step of (x/e)(1 − x/e)·Δ ≤ Δ/4 across the upper border (we keep
// that for parity with diffusers). So neighbouring pixels may differ by
// the smooth image's slope + Δ/e + Δ/4, while without overlap (stride =
// tile) the full Δ shows as a seam.
func TestTiledBlendIsSeamless(t *testing.T) {
	const f, h, w = 16, 5, 4
	z := kernels.MustNew(kernels.Float32, 1, 2, h, w) // channel 0: latent row, 1: latent column
	for i := range h {
		for j := range w {
			z.F32()[i*w+j], z.F32()[h*w+i*w+j] = float32(i), float32(j)
		}
	}
	offset := func(i, j int) float64 { return 0.5 * float64((i*7+j*3)%5) } // spread ≤ 2
	smooth := func(tz *kernels.Tensor) (*kernels.Tensor, error) {
		i, j := int(tz.F32()[0]), int(tz.F32()[tz.Dim(2)*tz.Dim(3)])
		H, W := tz.Dim(2)*f, tz.Dim(3)*f
		out := kernels.MustNew(kernels.Float32, 1, 1, H, W)
		for y := range H {
			for x := range W {
				Y, X := float64(i*f+y), float64(j*f+x)
				out.F32()[y*W+x] = float32(math.Sin(Y/9) + math.Cos(X/11) + offset(i, j))
			}
		}
		return out, nil
	}
	dec := func(_ context.Context, tz *kernels.Tensor) (*kernels.Tensor, error) { return smooth(tz) }
	for _, tc := range []struct {
		opt   TileOptions
		bound float64 // slope 1/9 + spread Δ = 2 over the blend width + Δ/4 at blend corners
	}{{TileOptions{2, 1}, 1.0/9 + 2.0/f + 0.5}, {TileOptions{3, 1}, 1.0/9 + 2.0/f + 0.5}, {TileOptions{3, 2}, 1.0/9 + 2.0/f + 0.5}, {TileOptions{2, 2}, math.Inf(1)}} {
		out, err := tileDecode(context.Background(), z, tc.opt, f, 1, dec)
		if err != nil {
			t.Fatal(err)
		}
		jump := maxNeighbourJump(out)
		t.Logf("tile %d stride %d: max neighbour jump %.3g (bound %.3g)", tc.opt.TileLatent, tc.opt.StrideLatent, jump, tc.bound)
		if jump > tc.bound+1e-6 {
			t.Errorf("%+v: seam: neighbours differ by %.3g > %.3g", tc.opt, jump, tc.bound)
		}
		if math.IsInf(tc.bound, 1) && jump < 1.5 {
			t.Errorf("%+v: the unblended control shows no seam (%.3g): the check is blind", tc.opt, jump)
		}
	}
}

func maxNeighbourJump(x *kernels.Tensor) float64 {
	H, W := x.Dim(2), x.Dim(3)
	worst := 0.0
	for y := range H {
		for c := range W {
			v := x.At(y*W + c)
			if y > 0 {
				worst = math.Max(worst, math.Abs(v-x.At((y-1)*W+c)))
			}
			if c > 0 {
				worst = math.Max(worst, math.Abs(v-x.At(y*W+c-1)))
			}
		}
	}
	return worst
}

func maxAbsOf(x *kernels.Tensor) float64 {
	worst := 0.0
	for i := range x.Len() {
		worst = math.Max(worst, math.Abs(x.At(i)))
	}
	return worst
}

func maxDiff(a, b *kernels.Tensor) float64 {
	if a.Len() != b.Len() {
		return math.Inf(1)
	}
	worst := 0.0
	for i := range a.Len() {
		worst = math.Max(worst, math.Abs(a.At(i)-b.At(i)))
	}
	return worst
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTiledOptionErrors(t *testing.T) {
	m := goldenModel(t, cpu.New(cpu.Config{}))
	z := kernels.MustNew(kernels.Float32, 1, 8, 4, 4)
	for _, opt := range []TileOptions{{0, 0}, {2, 3}, {2, 0}} {
		if _, err := m.DecodeTiled(context.Background(), z, opt); err == nil {
			t.Errorf("%+v: no error", opt)
		}
	}
}
