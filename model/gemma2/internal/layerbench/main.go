// Command layerbench times one Gemma-2 decoder layer at gemma-2-2b widths
// (hidden 2304, 8 query / 4 kv heads × 256, intermediate 9216, sliding
// window 4096, soft-cap 50; batch 2 × 300 tokens, the second half of each
// row padding, random weights) on our CPU backend against the same layer in
// plain PyTorch (layer.py), interleaved in one run with the same thread
// count, and prints the ratio.
//
// model/gemma2 exposes only Encode, so both sides time a whole 1-layer
// Gemma2Model: embedding lookup (vocab cut to 1000 — the table is not part
// of the layer's cost), the layer, and the final norm. The embedding and
// final norm are a few hundredths of the layer's work.
//
//	go run ./model/gemma2/internal/layerbench [-threads 1] [-rounds 5] [-python /usr/bin/python3]
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"

	"github.com/sanafarm/sanafarm/internal/torchbench"
	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/gemma2"
)

//go:embed layer.py
var layerPy string

type shape struct{ B, T, valid int }

func main() {
	threads := flag.Int("threads", 1, "threads for both implementations")
	rounds := flag.Int("rounds", 5, "interleaved rounds")
	iters := flag.Int("iters", 3, "encodes per round (median)")
	py := flag.String("python", "/usr/bin/python3", "python with torch (Debian python3-torch)")
	tokens := flag.Int("tokens", 300, "tokens per row (Sana's max_sequence_length)")
	prof := flag.String("cpuprofile", "", "write a CPU profile of our side (the Go process) to this file")
	flag.Parse()
	s := shape{B: 2, T: *tokens, valid: *tokens / 2}
	if err := torchbench.Profiled(*prof, func() error { return bench(s, *threads, *rounds, *iters, *py) }); err != nil {
		fmt.Fprintln(os.Stderr, "layerbench:", err)
		os.Exit(1)
	}
}

func config() gemma2.Config {
	c := gemma2.DefaultConfig()
	c.NumHiddenLayers, c.VocabSize = 1, 1000
	return c
}

func bench(s shape, threads, rounds, iters int, py string) error {
	cfg := config()
	ours, err := newOurs(cfg, s, threads)
	if err != nil {
		return err
	}
	args := append(torchbench.Ints(threads, s.B, s.T, s.valid, cfg.HiddenSize, cfg.NumAttentionHeads, cfg.NumKeyValueHeads,
		cfg.HeadDim, cfg.IntermediateSize, cfg.VocabSize, cfg.Window(0)), strconv.FormatFloat(float64(cfg.SoftCap()), 'g', -1, 32))
	torch, err := torchbench.Start(py, "layer", layerPy, threads, args...)
	if err != nil {
		return err
	}
	defer torch.Close()
	mo, mt, err := torchbench.Compare(rounds, iters, ours.time, torch)
	if err != nil {
		return err
	}
	fmt.Printf("gemma2 layer B=%d T=%d (valid %d) hidden=%d threads=%d: ours=%.1f ms pytorch(%s)=%.1f ms\n",
		s.B, s.T, s.valid, cfg.HiddenSize, threads, mo*1e3, torch.Version, mt*1e3)
	fmt.Printf("gemma_layer_vs_pytorch %.2f\n", mt/mo)
	return nil
}

type ours struct {
	m         *gemma2.Model
	ids, mask *kernels.Tensor
}

func newOurs(cfg gemma2.Config, s shape, threads int) (*ours, error) {
	w, err := gemma2.RandomWeights(cfg, 1)
	if err != nil {
		return nil, err
	}
	m := gemma2.New(cfg, w, cpu.New(cpu.Config{Threads: threads}))
	rng := rand.New(rand.NewPCG(1, 2))
	ids := kernels.MustNew(kernels.Int64, s.B, s.T)
	mask := kernels.MustNew(kernels.Int64, s.B, s.T)
	for i := range ids.I64() {
		ids.I64()[i] = rng.Int64N(int64(cfg.VocabSize))
		if i%s.T < s.valid {
			mask.I64()[i] = 1
		}
	}
	o := &ours{m: m, ids: ids, mask: mask}
	if _, err := o.time(1); err != nil { // warm up (and cache the layer scratch), as layer.py does
		return nil, err
	}
	return o, nil
}

func (o *ours) time(iters int) (float64, error) {
	return torchbench.TimeRuns(iters, func() error {
		_, err := o.m.Encode(context.Background(), o.ids, o.mask)
		return err
	})
}
