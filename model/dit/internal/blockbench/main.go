// Command blockbench times one Sana-600M transformer block (D=1152, 36×32
// heads, mlp 2.5, 16×72 cross heads, 300 caption tokens) on our CPU
// backend against the same block in plain PyTorch (block.py), interleaved
// in one run with the same thread count, and prints the ratio.
//
//	go run ./model/dit/internal/blockbench [-threads 1] [-rounds 5] [-python /usr/bin/python3]
package main

import (
	"bufio"
	"context"
	_ "embed"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

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
	torch, err := startTorch(py, s, threads)
	if err != nil {
		return err
	}
	defer torch.close()
	var ot, tt []float64
	for r := 0; r < rounds; r++ {
		o, err := ours.time(iters)
		if err != nil {
			return err
		}
		t, err := torch.time(iters)
		if err != nil {
			return err
		}
		ot, tt = append(ot, o), append(tt, t)
		fmt.Printf("round %d: ours=%.1f ms pytorch=%.1f ms\n", r, o*1e3, t*1e3)
	}
	mo, mt := median(ot), median(tt)
	fmt.Printf("block B=%d tokens=%d D=1152 T=%d threads=%d: ours=%.1f ms pytorch(%s)=%.1f ms\n",
		s.B, s.h*s.w, s.T, threads, mo*1e3, torch.version, mt*1e3)
	fmt.Printf("block_vs_pytorch %.2f\n", mt/mo)
	return nil
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
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
	var ts []float64
	for i := 0; i < iters; i++ {
		copy(o.hid.F32(), o.x0)
		t0 := time.Now()
		if err := o.m.RunBlock(context.Background(), 0, o.hid, o.tmod, o.cd, o.s.h, o.s.w); err != nil {
			return 0, err
		}
		ts = append(ts, time.Since(t0).Seconds())
	}
	return median(ts), nil
}

type torchProc struct {
	cmd     *exec.Cmd
	in      *bufio.Writer
	out     *bufio.Scanner
	version string
}

func startTorch(py string, s shape, threads int) (*torchProc, error) {
	args := []string{"-c", blockPy}
	for _, v := range []int{threads, s.B, s.h, s.w, 1152, s.heads, s.cross, s.T} {
		args = append(args, strconv.Itoa(v))
	}
	cmd := exec.Command(py, args...)
	cmd.Stderr = os.Stderr
	// torch.set_num_threads does not reach the pthread OpenBLAS that
	// Debian's torch calls for matmuls: pin every pool explicitly.
	n := strconv.Itoa(threads)
	cmd.Env = append(os.Environ(), "OPENBLAS_NUM_THREADS="+n, "OMP_NUM_THREADS="+n, "MKL_NUM_THREADS="+n)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s (install Debian python3-torch and libopenblas0-pthread): %w", py, err)
	}
	p := &torchProc{cmd: cmd, in: bufio.NewWriter(stdin), out: bufio.NewScanner(stdout)}
	if !p.out.Scan() || !strings.HasPrefix(p.out.Text(), "ready") {
		cmd.Process.Kill()
		return nil, fmt.Errorf("pytorch block did not start (is torch importable by %s?)", py)
	}
	p.version = strings.Fields(p.out.Text())[1]
	return p, nil
}

func (p *torchProc) time(iters int) (float64, error) {
	fmt.Fprintf(p.in, "run %d\n", iters)
	p.in.Flush()
	if !p.out.Scan() {
		return 0, fmt.Errorf("pytorch block exited")
	}
	return strconv.ParseFloat(strings.TrimSpace(p.out.Text()), 64)
}

func (p *torchProc) close() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}
