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
	"bufio"
	"context"
	_ "embed"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

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
	if err := profiled(*prof, func() error { return bench(s, *threads, *rounds, *iters, *py) }); err != nil {
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
	torch, err := startTorch(py, cfg, s, threads)
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
	fmt.Printf("gemma2 layer B=%d T=%d (valid %d) hidden=%d threads=%d: ours=%.1f ms pytorch(%s)=%.1f ms\n",
		s.B, s.T, s.valid, cfg.HiddenSize, threads, mo*1e3, torch.version, mt*1e3)
	fmt.Printf("gemma_layer_vs_pytorch %.2f\n", mt/mo)
	return nil
}

// profiled runs f under a CPU profile written to path (none when path is
// empty). Only this process is profiled: PyTorch runs in its own.
func profiled(path string, f func() error) error {
	if path == "" {
		return f()
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	return f()
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
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
	var ts []float64
	for i := 0; i < iters; i++ {
		t0 := time.Now()
		if _, err := o.m.Encode(context.Background(), o.ids, o.mask); err != nil {
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

func startTorch(py string, c gemma2.Config, s shape, threads int) (*torchProc, error) {
	args := []string{"-c", layerPy}
	for _, v := range []int{threads, s.B, s.T, s.valid, c.HiddenSize, c.NumAttentionHeads, c.NumKeyValueHeads,
		c.HeadDim, c.IntermediateSize, c.VocabSize, c.Window(0)} {
		args = append(args, strconv.Itoa(v))
	}
	args = append(args, strconv.FormatFloat(float64(c.SoftCap()), 'g', -1, 32))
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
		return nil, fmt.Errorf("pytorch layer did not start (is torch importable by %s?)", py)
	}
	p.version = strings.Fields(p.out.Text())[1]
	return p, nil
}

func (p *torchProc) time(iters int) (float64, error) {
	fmt.Fprintf(p.in, "run %d\n", iters)
	p.in.Flush()
	if !p.out.Scan() {
		return 0, fmt.Errorf("pytorch layer exited")
	}
	return strconv.ParseFloat(strings.TrimSpace(p.out.Text()), 64)
}

func (p *torchProc) close() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}
