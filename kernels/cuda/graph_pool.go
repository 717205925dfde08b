//go:build cuda

package cuda

import "gorgonia.org/cu"

// graphPool holds the device blocks of one captured graph (graph.go): the
// blocks its capture took and those released while it was captured. Its
// free blocks serve only that graph's capture; they return to the shared
// cache when the graph is closed (or its capture failed). All methods are
// called with the allocator's mu held; a nil pool is the shared cache.
type graphPool struct {
	free   map[int][]cu.DevicePtr
	owned  int // bytes of all blocks belonging to the pool
	closed bool
}

// take reuses one of the pool's free blocks.
func (g *graphPool) take(class int) (cu.DevicePtr, bool) {
	l := g.free[class]
	if len(l) == 0 {
		return 0, false
	}
	g.free[class] = l[:len(l)-1]
	return l[len(l)-1], true
}

// own counts a block newly given to the pool.
func (g *graphPool) own(class int) {
	if g != nil {
		g.owned += class
	}
}

// keep takes a released block back unless the pool is gone (or nil).
func (g *graphPool) keep(p cu.DevicePtr, class int) bool {
	if g == nil || g.closed {
		return false
	}
	g.free[class] = append(g.free[class], p)
	return true
}

// bytes reports the memory the pool's graph holds.
func (g *graphPool) bytes() int {
	if g == nil {
		return 0
	}
	return g.owned
}

// beginCapture starts a pool that every allocation draws from until
// endCapture.
func (a *allocator) beginCapture() *graphPool {
	pool := &graphPool{free: map[int][]cu.DevicePtr{}}
	a.mu.Lock()
	a.capture = pool
	a.mu.Unlock()
	return pool
}

func (a *allocator) endCapture() {
	a.mu.Lock()
	a.capture = nil
	a.mu.Unlock()
}

// closePool gives the pool's free blocks to the shared cache; blocks still
// held by live tensors follow when those are released.
func (a *allocator) closePool(g *graphPool) {
	if g == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	g.closed = true
	if a.closed {
		return
	}
	for class, l := range g.free {
		a.live -= class * len(l)
		a.cached += class * len(l)
		a.free[class] = append(a.free[class], l...)
	}
	g.free = nil
}
