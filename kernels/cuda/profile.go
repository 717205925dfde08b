//go:build cuda

package cuda

import (
	"fmt"
	"slices"
	"sync"

	"gorgonia.org/cu"
)

// OpTime is the GPU time of one kernel or cuBLAS call kind, summed over
// calls (Config.Profile).
type OpTime struct {
	Name  string
	Calls int
	MS    float64
}

// profiler attributes GPU time to kernels and GEMMs with a pair of CUDA
// events around each launch on the backend's stream, resolved on
// Profile. Only with Config.Profile: every launch then pays two event
// records (~2 µs of host time), so it is for finding where time goes
// (scripts/perf/perf.sh), never for timing.
type profiler struct {
	mu      sync.Mutex
	pending []profMark
	free    []cu.Event
	total   map[string]*OpTime
}

type profMark struct {
	name       string
	start, end cu.Event
}

// event returns a recycled or new event; the caller is inside with.
func (p *profiler) event() (cu.Event, error) {
	if n := len(p.free); n > 0 {
		e := p.free[n-1]
		p.free = p.free[:n-1]
		return e, nil
	}
	return cu.MakeEvent(cu.DefaultEvent)
}

// around records events around f on stream s, charged to name; the
// caller is inside with. Without a profiler it just runs f.
func (p *profiler) around(s cu.Stream, name string, f func() error) error {
	if p == nil {
		return f()
	}
	p.mu.Lock()
	start, err1 := p.event()
	end, err2 := p.event()
	p.mu.Unlock()
	if err1 != nil || err2 != nil {
		return f() // no events: the op still runs, unprofiled
	}
	_ = start.Record(s)
	err := f()
	_ = end.Record(s)
	p.mu.Lock()
	p.pending = append(p.pending, profMark{name, start, end})
	p.mu.Unlock()
	return err
}

// Profile waits for the queued work and returns the GPU time per kernel
// and GEMM kind since the last ResetProfile, largest first (nil without
// Config.Profile).
func (b *Backend) Profile() ([]OpTime, error) {
	p := b.prof
	if p == nil {
		return nil, nil
	}
	err := b.with(func() error {
		if err := b.syncLocked(); err != nil {
			return err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, m := range p.pending {
			ms, err := m.start.Elapsed(m.end)
			if err != nil {
				return fmt.Errorf("cuda: profile %s: %w", m.name, err)
			}
			t := p.total[m.name]
			if t == nil {
				t = &OpTime{Name: m.name}
				p.total[m.name] = t
			}
			t.Calls++
			t.MS += ms
			p.free = append(p.free, m.start, m.end)
		}
		p.pending = p.pending[:0]
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]OpTime, 0, len(p.total))
	for _, t := range p.total {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(x, y OpTime) int {
		if x.MS != y.MS {
			if x.MS > y.MS {
				return -1
			}
			return 1
		}
		return 0
	})
	return out, nil
}

// ResetProfile drops what Profile has summed so far (after a warm-up).
func (b *Backend) ResetProfile() error {
	if b.prof == nil {
		return nil
	}
	if _, err := b.Profile(); err != nil {
		return err
	}
	b.prof.mu.Lock()
	b.prof.total = map[string]*OpTime{}
	b.prof.mu.Unlock()
	return nil
}

// gemmLabel names a GEMM for the profile: operand types and sizes.
func gemmLabel(g gemmArgs) string {
	t := map[int32]string{cudaR32F: "f32", cudaR16BF: "bf16", cudaR16F: "f16"}[g.at]
	if g.batch > 0 {
		return fmt.Sprintf("gemm %s %dx%dx%d ×%d", t, g.m, g.n, g.k, g.batch)
	}
	return fmt.Sprintf("gemm %s %dx%dx%d", t, g.m, g.n, g.k)
}

// destroy releases the profiler's events; the caller is inside Close's
// context.
func (p *profiler) destroy() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.pending {
		p.free = append(p.free, m.start, m.end)
	}
	for i := range p.free {
		_ = cu.DestroyEvent(&p.free[i])
	}
	p.pending, p.free = nil, nil
}

// ProfileTable formats the first n rows of ops with their share of the
// summed GPU time, for benchmark logs.
func ProfileTable(ops []OpTime, n int) string {
	var total float64
	for _, o := range ops {
		total += o.MS
	}
	s := fmt.Sprintf("GPU time %.2f ms over %d kinds\n", total, len(ops))
	for i, o := range ops {
		if i == n {
			break
		}
		s += fmt.Sprintf("%8.3f ms %5.1f%% %6d× %s\n", o.MS, 100*o.MS/max(total, 1e-9), o.Calls, o.Name)
	}
	return s
}
