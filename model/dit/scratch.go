package dit

import (
	"sync"

	"github.com/sanafarm/sanafarm/kernels"
)

// scratchPool holds block temporaries between uses, keyed by dtype and
// element count: re-allocating (and zeroing) ~20 MB per block per step
// cost about a quarter of a block's time on the CPU backend. The model
// has one; a Step recording a CUDA graph takes the model's cached tensors
// into a pool of its own for as long as the graph lives (step.go), because
// a replay writes exactly the tensors its capture used.
type scratchPool struct {
	mu   sync.Mutex
	free map[scratchKey][]*kernels.Tensor
}

// scratchKey identifies interchangeable scratch tensors: same dtype and
// element count (any shape).
type scratchKey struct {
	dt kernels.DType
	n  int
}

func newScratchPool() *scratchPool {
	return &scratchPool{free: map[scratchKey][]*kernels.Tensor{}}
}

// get returns a cached tensor of dtype dt reshaped to shape, or nil.
func (p *scratchPool) get(dt kernels.DType, shape []int) *kernels.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	k := scratchKey{dt, n}
	p.mu.Lock()
	defer p.mu.Unlock()
	free := p.free[k]
	if len(free) == 0 {
		return nil
	}
	t := free[len(free)-1]
	p.free[k] = free[:len(free)-1]
	return t.MustReshape(shape...)
}

// put caches ts (nil entries skipped).
func (p *scratchPool) put(ts []*kernels.Tensor) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range ts {
		if t != nil {
			k := scratchKey{t.DType(), t.Len()}
			p.free[k] = append(p.free[k], t)
		}
	}
}

// moveTo hands every cached tensor to q.
func (p *scratchPool) moveTo(q *scratchPool) {
	p.mu.Lock()
	free := p.free
	p.free = map[scratchKey][]*kernels.Tensor{}
	p.mu.Unlock()
	for _, ts := range free {
		q.put(ts)
	}
}

// reset drops every cached tensor.
func (p *scratchPool) reset() {
	p.mu.Lock()
	p.free = map[scratchKey][]*kernels.Tensor{}
	p.mu.Unlock()
}

// FreeScratch drops the cached block temporaries (they are re-created on
// the next call).
func (m *Model) FreeScratch() { m.scratch.reset() }
