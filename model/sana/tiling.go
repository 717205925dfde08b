package sana

import (
	"context"
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dcae"
)

// DecodeTiling is when and how the pipeline decodes latents tile by tile
// (dcae.Model.DecodeTiled, diffusers' AutoencoderDC tiled_decode): peak
// decoder memory then follows the tile, not the image, which is what
// makes 4K decodes fit next to the transformer. Tiled output is not
// identical to a whole decode (each tile sees only itself, neighbours
// blend linearly), so it only applies above a size.
type DecodeTiling struct {
	// Off decodes every size whole.
	Off bool
	// AboveLatent tiles latents with an edge longer than this (latent
	// pixels; 0: DefaultDecodeTiling's).
	AboveLatent int
	// Tile is the tile and stride (0: DefaultDecodeTiling's).
	Tile dcae.TileOptions
}

// DefaultDecodeTiling tiles above 2048 pixels (64 latents with the 32×
// DC-AE), i.e. the 4K models, with the Sana model zoo's 4K settings:
// 1024-pixel tiles every 896 pixels (32/28 latents). Up to 2K nothing
// changes.
var DefaultDecodeTiling = DecodeTiling{AboveLatent: 64, Tile: dcae.TileOptions{TileLatent: 32, StrideLatent: 28}}

// orDefault fills zero fields from DefaultDecodeTiling.
func (t DecodeTiling) orDefault() DecodeTiling {
	if t.AboveLatent == 0 {
		t.AboveLatent = DefaultDecodeTiling.AboveLatent
	}
	if t.Tile == (dcae.TileOptions{}) {
		t.Tile = DefaultDecodeTiling.Tile
	}
	return t
}

// tilingOf is the checked, defaulted tiling of a pipeline's options.
func tilingOf(opts Options) (DecodeTiling, error) {
	t := opts.DecodeTiling.orDefault()
	if err := t.validate(); err != nil {
		return t, fmt.Errorf("loading pipeline: %w", err)
	}
	return t, nil
}

func (t DecodeTiling) validate() error {
	switch {
	case t.Off:
		return nil
	case t.AboveLatent < 1:
		return fmt.Errorf("decode tiling: threshold %d latents, want ≥ 1", t.AboveLatent)
	case t.Tile.StrideLatent < 1 || t.Tile.TileLatent < t.Tile.StrideLatent:
		return fmt.Errorf("decode tiling: tile %d, stride %d latents: want 0 < stride ≤ tile", t.Tile.TileLatent, t.Tile.StrideLatent)
	}
	return nil
}

// applies reports whether latents lat [B, C, h, w] are decoded in tiles.
func (t DecodeTiling) applies(lat *kernels.Tensor) bool {
	return !t.Off && lat.Rank() == 4 && max(lat.Dim(2), lat.Dim(3)) > t.AboveLatent
}

// decodeLatentsTiled is decodeLatents through DecodeTiled.
func decodeLatentsTiled(ctx context.Context, vae *dcae.Model, lat *kernels.Tensor, tile dcae.TileOptions) (*kernels.Tensor, error) {
	x, err := vae.DecodeTiled(ctx, unscaled(vae, lat), tile)
	if err != nil {
		return nil, err
	}
	return toHostF32(vae.Backend(), x)
}
