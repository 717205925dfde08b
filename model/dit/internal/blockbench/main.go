// Command blockbench times one Sana-600M transformer block (D=1152, 36×32
// heads, mlp 2.5, 16×72 cross heads, 300 caption tokens) on our CPU
// backend against the same block in plain PyTorch (block.py), interleaved
// in one run with the same thread count, and prints the ratio.
//
//	go run ./model/dit/internal/blockbench [-threads 1] [-rounds 5] [-python /usr/bin/python3]
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"

	"github.com/sanafarm/sanafarm/internal/torchbench"
	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/dit"
)

//go:embed block.py
var blockPy string

type shape struct{ B, h, w, heads, cross, T int }

func main() {
	threads := flag.Int("threads", 1, "threads for both implementations")
	rounds := flag.Int("rounds", 5, "interleaved rounds")
	iters := flag.Int("iters", 3, "block runs per round (median)")
	py := flag.String("python", "/usr/bin/python3", "python with torch (Debian python3-torch)")
	res := flag.Int("res", 512, "image resolution (512 → 16×16 latent tokens)")
	flag.Parse()
	s := shape{B: 2, h: *res / 32, w: *res / 32, heads: 36, cross: 16, T: 300}
	if err := bench(s, *threads, *rounds, *iters, *py); err != nil {
		fmt.Fprintln(os.Stderr, "blockbench:", err)
		os.Exit(1)
	}
}

func bench(s shape, threads, rounds, iters int, py string) error {
	ours, err := newOurs(s, threads)
	if err != nil {
		return err
	}
	args := torchbench.Ints(threads, s.B, s.h, s.w, 1152, s.heads, s.cross, s.T)
	torch, err := torchbench.Start(py, "block", blockPy, threads, args...)
	if err != nil {
		return err
	}
	defer torch.Close()
	mo, mt, err := torchbench.Compare(rounds, iters, ours.time, torch)
	if err != nil {
		return err
	}
	fmt.Printf("block B=%d tokens=%d D=1152 T=%d threads=%d: ours=%.1f ms pytorch(%s)=%.1f ms\n",
		s.B, s.h*s.w, s.T, threads, mo*1e3, torch.Version, mt*1e3)
	fmt.Printf("block_vs_pytorch %.2f\n", mt/mo)
	return nil
}

type ours struct {
	m         *dit.Model
	hid, tmod *kernels.Tensor
	x0        []float32
	cd        *dit.Cond
	s         shape
}

func randTensor(rng *rand.Rand, shape ...int) *kernels.Tensor {
	t := kernels.MustNew(kernels.Float32, shape...)
	for i := range t.F32() {
		t.F32()[i] = float32(rng.NormFloat64())
	}
	return t
}

func newOurs(s shape, threads int) (*ours, error) {
	cfg := dit.Config{ClassName: dit.ClassName, InChannels: 32, NumAttentionHeads: s.heads, AttentionHeadDim: 32,
		NumLayers: 1, NumCrossAttnHeads: s.cross, CrossAttnHeadDim: 1152 / s.cross, CrossAttentionDim: 1152,
		CaptionChannels: 2304, MLPRatio: 2.5, NormEps: 1e-6, PatchSize: 1}
	w, err := dit.RandomWeights(cfg, 1)
	if err != nil {
		return nil, err
	}
	m := dit.New(cfg, w, cpu.New(cpu.Config{Threads: threads}))
	rng := rand.New(rand.NewPCG(1, 2))
	mask := kernels.MustNew(kernels.Int64, s.B, s.T)
	for i := range mask.I64() {
		if i%s.T < s.T/2 {
			mask.I64()[i] = 1
		}
	}
	cd, err := m.PrepareCond(context.Background(), randTensor(rng, s.B, s.T, 2304), mask)
	if err != nil {
		return nil, err
	}
	hid := randTensor(rng, s.B, s.h*s.w, 1152)
	return &ours{m: m, hid: hid, x0: slices.Clone(hid.F32()), tmod: randTensor(rng, s.B, 6*1152), cd: cd, s: s}, nil
}

func (o *ours) time(iters int) (float64, error) {
	var elapsed []float64
	for range iters {
		copy(o.hid.F32(), o.x0) // a fresh residual stream per run, outside the timing
		t, err := torchbench.TimeRuns(1, func() error {
			return o.m.RunBlock(context.Background(), 0, o.hid, o.tmod, o.cd, o.s.h, o.s.w)
		})
		if err != nil {
			return 0, err
		}
		elapsed = append(elapsed, t)
	}
	return torchbench.Median(elapsed), nil
}
