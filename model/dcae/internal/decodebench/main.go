// Command decodebench times one Sana DC-AE f32c32 decode (the real stage
// widths and depths of the Sana vae/config.json, random weights, batch 1,
// latent 32×8×8 → 256² image) on our CPU backend against the same decoder
// in plain PyTorch (decode.py), interleaved in one run with the same thread
// count, and prints the ratio. Both sides time the whole Decode call: conv
// stem, all six stages, norm_out and conv_out (ours includes the NCHW↔NHWC
// transposes around it).
//
//	go run ./model/dcae/internal/decodebench [-threads 1] [-rounds 3] [-python /usr/bin/python3]
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/sanafarm/sanafarm/internal/torchbench"
	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/dcae"
)

//go:embed decode.py
var decodePy string

// sanaVAE is the Sana repos' vae/config.json (docs/sana.md §3).
const sanaVAE = `{
  "_class_name": "AutoencoderDC",
  "attention_head_dim": 32,
  "decoder_block_out_channels": [128, 256, 512, 512, 1024, 1024],
  "decoder_block_types": ["ResBlock", "ResBlock", "ResBlock", "EfficientViTBlock", "EfficientViTBlock", "EfficientViTBlock"],
  "decoder_layers_per_block": [3, 3, 3, 3, 3, 3],
  "decoder_norm_types": "rms_norm",
  "decoder_act_fns": "silu",
  "decoder_qkv_multiscales": [[], [], [], [5], [5], [5]],
  "downsample_block_type": "Conv",
  "encoder_block_out_channels": [128, 256, 512, 512, 1024, 1024],
  "encoder_block_types": ["ResBlock", "ResBlock", "ResBlock", "EfficientViTBlock", "EfficientViTBlock", "EfficientViTBlock"],
  "encoder_layers_per_block": [2, 2, 2, 3, 3, 3],
  "encoder_qkv_multiscales": [[], [], [], [5], [5], [5]],
  "in_channels": 3,
  "latent_channels": 32,
  "scaling_factor": 0.41407,
  "upsample_block_type": "interpolate"
}`

func main() {
	threads := flag.Int("threads", 1, "threads for both implementations")
	rounds := flag.Int("rounds", 3, "interleaved rounds")
	iters := flag.Int("iters", 1, "decodes per round (median)")
	py := flag.String("python", "/usr/bin/python3", "python with torch (Debian python3-torch)")
	res := flag.Int("res", 256, "image resolution (256 → 8×8 latent)")
	prof := flag.String("cpuprofile", "", "write a CPU profile of our side (the Go process) to this file")
	flag.Parse()
	if err := torchbench.Profiled(*prof, func() error { return bench(*res/32, *threads, *rounds, *iters, *py) }); err != nil {
		fmt.Fprintln(os.Stderr, "decodebench:", err)
		os.Exit(1)
	}
}

func bench(lat, threads, rounds, iters int, py string) error {
	cfg := dcae.DefaultConfig()
	if err := json.Unmarshal([]byte(sanaVAE), &cfg); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	ours, err := newOurs(cfg, lat, threads)
	if err != nil {
		return err
	}
	args := append(torchbench.Ints(threads, 1, lat, lat, cfg.LatentChannels, cfg.AttentionHeadDim),
		joinInts(cfg.DecoderBlockOutChannels), joinInts(cfg.DecoderLayersPerBlock), strconv.Itoa(vitFrom(cfg)))
	torch, err := torchbench.Start(py, "decoder", decodePy, threads, args...)
	if err != nil {
		return err
	}
	defer torch.Close()
	mo, mt, err := torchbench.Compare(rounds, iters, ours.time, torch)
	if err != nil {
		return err
	}
	fmt.Printf("dcae decode B=1 latent=%dx%dx%d image=%d² threads=%d: ours=%.0f ms pytorch(%s)=%.0f ms\n",
		cfg.LatentChannels, lat, lat, lat*cfg.Compression(), threads, mo*1e3, torch.Version, mt*1e3)
	fmt.Printf("dcae_decode_vs_pytorch %.2f\n", mt/mo)
	return nil
}

type ours struct {
	m *dcae.Model
	z *kernels.Tensor
}

func newOurs(cfg dcae.Config, lat, threads int) (*ours, error) {
	w, err := dcae.RandomWeights(cfg, 1, dcae.PartDecoder)
	if err != nil {
		return nil, err
	}
	m := dcae.New(cfg, w, cpu.New(cpu.Config{Threads: threads}))
	rng := rand.New(rand.NewPCG(1, 2))
	z := kernels.MustNew(kernels.Float32, 1, cfg.LatentChannels, lat, lat)
	for i := range z.F32() {
		z.F32()[i] = float32(rng.NormFloat64())
	}
	o := &ours{m: m, z: z}
	if _, err := o.time(1); err != nil { // warm up, as decode.py does
		return nil, err
	}
	return o, nil
}

func (o *ours) time(iters int) (float64, error) {
	return torchbench.TimeRuns(iters, func() error {
		_, err := o.m.Decode(context.Background(), o.z)
		return err
	})
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// vitFrom is the first decoder stage built of EfficientViT blocks (the
// decoder is ResBlock stages then EfficientViT stages in the Sana config).
func vitFrom(cfg dcae.Config) int {
	t := cfg.DecoderBlockTypes
	for i := range cfg.Stages() {
		if (len(t) == 1 && t[0] == "EfficientViTBlock") || (len(t) > 1 && t[i] == "EfficientViTBlock") {
			return i
		}
	}
	return cfg.Stages()
}
