package sana

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/dcae"
)

// TestDecodeTiling: latents above the threshold are decoded exactly as
// dcae.DecodeTiled decodes them, latents at or below it (and every size
// with tiling off) exactly as a whole decode.
func TestDecodeTiling(t *testing.T) {
	files, err := tinyFiles(TinyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	load := func(tl DecodeTiling) *Pipeline {
		p, err := Load(context.Background(), mapFS(files), Options{Backend: cpu.New(cpu.Config{}), Tokenizer: LoadTokenizer, DecodeTiling: tl})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	tile := dcae.TileOptions{TileLatent: 4, StrideLatent: 3}
	tiled, whole := load(DecodeTiling{AboveLatent: 4, Tile: tile}), load(DecodeTiling{Off: true})
	ctx := context.Background()
	for _, c := range []struct {
		name      string
		h, w      int
		wantTiled bool
	}{
		{"above the threshold", 4, 7, true},
		{"at the threshold", 4, 4, false},
	} {
		lat := randTensorSana(3, 1, 8, c.h, c.w)
		got, err := tiled.DecodeLatents(ctx, lat)
		if err != nil {
			t.Fatal(err)
		}
		w, err := whole.DecodeLatents(ctx, lat)
		if err != nil {
			t.Fatal(err)
		}
		z := lat.Clone()
		for i := range z.F32() {
			z.F32()[i] /= float32(tiled.vae.Config().ScalingFactor)
		}
		ref, err := tiled.vae.DecodeTiled(ctx, z, tile)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.F32(), ref.F32()) {
			t.Errorf("%s: pipeline decode differs from DecodeTiled", c.name)
		}
		if same := slices.Equal(got.F32(), w.F32()); same == c.wantTiled {
			t.Errorf("%s: tiled output equals the whole decode: %v, want %v", c.name, same, !c.wantTiled)
		}
	}
	_, err = Load(ctx, mapFS(files), Options{Backend: cpu.New(cpu.Config{}), Tokenizer: LoadTokenizer,
		DecodeTiling: DecodeTiling{Tile: dcae.TileOptions{TileLatent: 2, StrideLatent: 3}}})
	if err == nil || !strings.Contains(err.Error(), "tile 2, stride 3") {
		t.Errorf("stride above the tile: %v", err)
	}
}

func randTensorSana(seed uint64, shape ...int) *kernels.Tensor {
	rng := rand.New(rand.NewPCG(seed, 2))
	t := kernels.MustNew(kernels.Float32, shape...)
	for i := range t.F32() {
		t.F32()[i] = float32(rng.NormFloat64())
	}
	return t
}
