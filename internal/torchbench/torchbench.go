// Package torchbench is the harness of the "ours vs plain PyTorch"
// benchmarks (DiT block, DC-AE decode, Gemma-2 layer): a persistent
// Python subprocess that answers "run K" with the median seconds of K runs,
// interleaved rounds against our side in the same process, medians, and an
// optional CPU profile of our side.
package torchbench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Proc is a running PyTorch script speaking the line protocol: it prints
// "ready <torch version> ..." once, then answers each "run K" line with the
// median seconds of K runs.
type Proc struct {
	cmd     *exec.Cmd
	in      *bufio.Writer
	out     *bufio.Scanner
	name    string
	Version string
}

// Start runs python -c script args... with every BLAS/OpenMP pool pinned
// to threads: torch.set_num_threads does not reach the pthread OpenBLAS
// that Debian's torch calls for matmuls.
func Start(python, name, script string, threads int, args ...string) (*Proc, error) {
	cmd := exec.Command(python, append([]string{"-c", script}, args...)...)
	cmd.Stderr = os.Stderr
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
		return nil, fmt.Errorf("starting %s (install Debian python3-torch and libopenblas0-pthread): %w", python, err)
	}
	p := &Proc{cmd: cmd, in: bufio.NewWriter(stdin), out: bufio.NewScanner(stdout), name: name}
	if !p.out.Scan() || !strings.HasPrefix(p.out.Text(), "ready") {
		p.Close()
		return nil, fmt.Errorf("pytorch %s did not start (is torch importable by %s?)", name, python)
	}
	if f := strings.Fields(p.out.Text()); len(f) > 1 {
		p.Version = f[1]
	}
	return p, nil
}

// Time asks for iters runs and returns their median in seconds.
func (p *Proc) Time(iters int) (float64, error) {
	fmt.Fprintf(p.in, "run %d\n", iters)
	if err := p.in.Flush(); err != nil {
		return 0, fmt.Errorf("pytorch %s: %w", p.name, err)
	}
	if !p.out.Scan() {
		return 0, fmt.Errorf("pytorch %s exited", p.name)
	}
	return strconv.ParseFloat(strings.TrimSpace(p.out.Text()), 64)
}

// Close stops the subprocess.
func (p *Proc) Close() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// Median of v (v is not modified).
func Median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

// TimeRuns runs f iters times and returns the median seconds of one run.
func TimeRuns(iters int, f func() error) (float64, error) {
	ts := make([]float64, 0, iters)
	for range iters {
		t0 := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		ts = append(ts, time.Since(t0).Seconds())
	}
	return Median(ts), nil
}

// Compare interleaves rounds of ours and theirs (iters runs each), prints
// one line per round in milliseconds, and returns the medians over rounds.
func Compare(rounds, iters int, ours func(iters int) (float64, error), theirs *Proc) (mo, mt float64, err error) {
	var ot, tt []float64
	for r := range rounds {
		o, err := ours(iters)
		if err != nil {
			return 0, 0, err
		}
		t, err := theirs.Time(iters)
		if err != nil {
			return 0, 0, err
		}
		ot, tt = append(ot, o), append(tt, t)
		fmt.Printf("round %d: ours=%.1f ms pytorch=%.1f ms\n", r, o*1e3, t*1e3)
	}
	return Median(ot), Median(tt), nil
}

// Profiled runs f under a CPU profile written to path (none when path is
// empty). Only this process is profiled: PyTorch runs in its own.
func Profiled(path string, f func() error) error {
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

// Ints formats integers as separate arguments.
func Ints(v ...int) []string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return s
}
