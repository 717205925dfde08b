package dcae

import (
	"context"
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
)

// TileOptions configures DecodeTiled, in latent pixels (diffusers'
// tile_sample_min_size and tile_sample_stride divided by the compression
// factor; the Sana model zoo uses 1024/896 pixels = 32/28 latents at 4K).
type TileOptions struct {
	TileLatent   int // edge of a decoded latent tile
	StrideLatent int // step between tiles, 0 < StrideLatent ≤ TileLatent
}

// DecodeTiled decodes z [B, Cl, h, w] tile by tile as diffusers'
// AutoencoderDC.tiled_decode does, so peak activation memory follows the
// tile, not the image: every tile is decoded on its own, linearly blended
// with its (already blended) upper and left neighbours over
// (tile − stride)·32 pixels, then cropped to stride·32 pixels. Only the
// previous row of decoded tiles is kept. When one tile covers the whole
// latent it is exactly Decode (diffusers also falls back to it).
//
// Tiled output is not identical to Decode: the attention and convolutions
// see only the tile. On the golden dc_ae latent [2, 8, 4, 3] the max abs
// difference to the untiled decode is 2.84 with tile 2, stride 1 (2.75
// with tile 3, stride 1 or 2; output max 2.75): the tiny random decoder has
// global attention and no smoothness, so this bounds nothing for a trained
// model. Blending spreads a disagreement Δ between neighbouring tiles over
// the blend width; where a tile's top and left blends overlap, diffusers
// blends with already-blended neighbours, which leaves a step of at most
// Δ/4 across the upper border — kept for parity (TestTiledBlendIsSeamless;
// no overlap shows the full Δ).
//
// The latent is read back to the host, and the result is a host tensor
// (tile blending is cheap host work); each tile is decoded on the backend.
func (m *Model) DecodeTiled(ctx context.Context, z *kernels.Tensor, opt TileOptions) (*kernels.Tensor, error) {
	if m.w.dec == nil {
		return nil, fmt.Errorf("dcae: tiled decode: the decoder weights were not loaded")
	}
	if err := checkNCHW("dcae: tiled decode: latents", z, m.cfg.LatentChannels); err != nil {
		return nil, err
	}
	if opt.StrideLatent < 1 || opt.TileLatent < opt.StrideLatent {
		return nil, fmt.Errorf("dcae: tiled decode: tile %d, stride %d: want 0 < stride ≤ tile", opt.TileLatent, opt.StrideLatent)
	}
	h, w := z.Dim(2), z.Dim(3)
	if h <= opt.TileLatent && w <= opt.TileLatent {
		return m.Decode(ctx, z)
	}
	zh := kernels.MustNew(kernels.Float32, z.Shape()...)
	if err := m.be.Copy(zh, z); err != nil {
		return nil, fmt.Errorf("dcae: tiled decode: reading latents: %w", err)
	}
	out, err := tileDecode(ctx, zh, opt, m.cfg.Compression(), m.cfg.InChannels, m.decodeHost)
	if err != nil {
		return nil, fmt.Errorf("dcae: tiled decode %v (tile %d, stride %d): %w", z.Shape(), opt.TileLatent, opt.StrideLatent, err)
	}
	return out, nil
}

// decodeFunc decodes a host latent tile into a host image tile.
type decodeFunc func(ctx context.Context, tz *kernels.Tensor) (*kernels.Tensor, error)

// tileDecode runs the tile loop on the host latent zh with compression f
// and cout output channels (decode is a parameter so tests can check the
// blending with a smooth stand-in decoder).
func tileDecode(ctx context.Context, zh *kernels.Tensor, opt TileOptions, f, cout int, decode decodeFunc) (*kernels.Tensor, error) {
	B, h, w := zh.Dim(0), zh.Dim(2), zh.Dim(3)
	blend, crop := (opt.TileLatent-opt.StrideLatent)*f, opt.StrideLatent*f
	out := kernels.MustNew(kernels.Float32, B, cout, h*f, w*f)
	var prev []*kernels.Tensor // the previous row's blended, uncropped tiles
	for i := 0; i < h; i += opt.StrideLatent {
		var row []*kernels.Tensor
		for j := 0; j < w; j += opt.StrideLatent {
			tz := window(zh, i, j, min(opt.TileLatent, h-i), min(opt.TileLatent, w-j))
			t, err := decode(ctx, tz)
			if err != nil {
				return nil, err
			}
			if i > 0 {
				blendRows(prev[len(row)], t, blend)
			}
			if j > 0 {
				blendCols(row[len(row)-1], t, blend)
			}
			paste(out, t, i*f, j*f, crop)
			row = append(row, t)
		}
		prev = row
	}
	return out, nil
}

// decodeHost decodes a host latent tile on the backend and reads it back.
func (m *Model) decodeHost(ctx context.Context, tz *kernels.Tensor) (*kernels.Tensor, error) {
	dz, err := m.be.Alloc(kernels.Float32, tz.Shape()...)
	if err != nil {
		return nil, err
	}
	if err := m.be.Copy(dz, tz); err != nil {
		return nil, err
	}
	img, err := m.Decode(ctx, dz)
	if err != nil {
		return nil, err
	}
	host := kernels.MustNew(kernels.Float32, img.Shape()...)
	if err := m.be.Copy(host, img); err != nil {
		return nil, err
	}
	return host, nil
}

// window copies z[:, :, i:i+th, j:j+tw] of a host NCHW tensor.
func window(z *kernels.Tensor, i, j, th, tw int) *kernels.Tensor {
	B, C, H, W := z.Dim(0), z.Dim(1), z.Dim(2), z.Dim(3)
	out := kernels.MustNew(kernels.Float32, B, C, th, tw)
	s, d := z.F32(), out.F32()
	for p := range B * C {
		for y := range th {
			copy(d[(p*th+y)*tw:(p*th+y+1)*tw], s[(p*H+i+y)*W+j:])
		}
	}
	return out
}

// blendRows is diffusers' blend_v: the first e rows of b fade in from the
// last e rows of a (weights y/e and 1 − y/e), e = min(a.H, b.H, extent).
func blendRows(a, b *kernels.Tensor, extent int) {
	P, Ha, Hb, W := b.Dim(0)*b.Dim(1), a.Dim(2), b.Dim(2), b.Dim(3)
	e := min(Ha, Hb, extent)
	ad, bd := a.F32(), b.F32()
	for p := range P {
		for y := range e {
			t, u := blendWeights(y, e)
			ar, br := ad[(p*Ha+Ha-e+y)*W:], bd[(p*Hb+y)*W:]
			for x := range W {
				br[x] = ar[x]*u + br[x]*t
			}
		}
	}
}

// blendWeights returns y/e and 1 − y/e, computed in float64 like the Python
// scalars diffusers multiplies with.
func blendWeights(y, e int) (t, u float32) {
	f := float64(y) / float64(e)
	return float32(f), float32(1 - f)
}

// blendCols is diffusers' blend_h: the same along the width.
func blendCols(a, b *kernels.Tensor, extent int) {
	R, Wa, Wb := b.Dim(0)*b.Dim(1)*b.Dim(2), a.Dim(3), b.Dim(3)
	e := min(Wa, Wb, extent)
	ad, bd := a.F32(), b.F32()
	for r := range R {
		ar, br := ad[r*Wa:(r+1)*Wa], bd[r*Wb:(r+1)*Wb]
		for x := range e {
			t, u := blendWeights(x, e)
			br[x] = ar[Wa-e+x]*u + br[x]*t
		}
	}
}

// paste copies t[:, :, :crop, :crop] into out at pixel (y0, x0).
func paste(out, t *kernels.Tensor, y0, x0, crop int) {
	P, H, W := out.Dim(0)*out.Dim(1), out.Dim(2), out.Dim(3)
	th, tw := t.Dim(2), t.Dim(3)
	ch, cw := min(crop, th), min(crop, tw)
	o, s := out.F32(), t.F32()
	for p := range P {
		for y := range ch {
			copy(o[(p*H+y0+y)*W+x0:(p*H+y0+y)*W+x0+cw], s[(p*th+y)*tw:])
		}
	}
}
