//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"gorgonia.org/cu"

	"github.com/sanafarm/sanafarm/kernels"
)

// Device memory: a caching allocator with size classes.
//
// Every tensor the backend allocates holds a devMem, which points at an
// *allocation (one cuMemAlloc block, possibly reused from the cache) plus
// an element offset and count for leading-dimension views. The block goes
// back to the cache when (*Backend).Free is called or when the garbage
// collector finds the allocation unreachable (runtime.AddCleanup).
//
// Why reuse without waiting for the GPU is safe: all device work of a
// backend is queued on its single stream and host reads/writes of device
// memory are stream-ordered too (async copies on that stream; device→host
// copies synchronize it). A block is returned to the cache only after every
// command that uses it has been enqueued (its tensor is unreachable, freed
// explicitly, or a scratch release func runs after the op enqueued its
// kernels), and whoever gets the block next can only enqueue work behind
// those commands. So the stream itself orders the old user's reads and
// writes before the new user's.

// devMem is a view of device memory; it implements kernels.DeviceMem.
type devMem struct {
	base *allocation // nil for empty tensors
	off  int         // first element
	n    int         // elements
	elem int         // bytes per element
}

// Slice returns the view of n elements from element off.
func (d devMem) Slice(off, n int) kernels.DeviceMem {
	return devMem{base: d.base, off: d.off + off, n: n, elem: d.elem}
}

// ptr is the device address of the first element of the view.
func (d devMem) ptr() cu.DevicePtr {
	if d.base == nil {
		return 0
	}
	return d.base.state.ptr + cu.DevicePtr(d.off*d.elem)
}

// bytes is the size of the view.
func (d devMem) bytes() int { return d.n * d.elem }

// allocation owns one cached block; its cleanup returns the block.
type allocation struct {
	state *blockState
}

// blockState is what the cleanup needs; it must not point back at the
// allocation, or the allocation would never become unreachable.
type blockState struct {
	mem      *allocator
	ptr      cu.DevicePtr
	class    int        // bytes actually reserved (the size class)
	pool     *graphPool // the graph whose capture took the block; nil: shared cache
	released atomic.Bool
}

// release returns the block to the cache once, whichever of Free, a
// scratch release func or the GC cleanup comes first.
func (s *blockState) release() {
	if !s.released.Swap(true) {
		s.mem.put(s.ptr, s.class, s.pool)
	}
}

// allocator caches freed blocks by size class, per backend.
type allocator struct {
	b      *Backend
	mu     sync.Mutex
	free   map[int][]cu.DevicePtr // size class → free blocks
	cached int                    // bytes in free
	live   int                    // bytes handed out (graph pools' free blocks included)
	closed bool

	// capture is the pool of the graph being captured (graph.go); while
	// set, take serves from it first and gives it every block it hands out.
	capture *graphPool
}

func newAllocator(b *Backend) *allocator {
	return &allocator{b: b, free: map[int][]cu.DevicePtr{}}
}

// sizeClass rounds a request up: powers of two below 1 MiB (at least 512
// bytes), above that 8 classes per power of two, so at most 12.5% of a
// large block is wasted while freed blocks still fit similar requests.
func sizeClass(n int) int {
	const small = 1 << 20
	if n <= 512 {
		return 512
	}
	if n <= small {
		return 1 << bits.Len(uint(n-1))
	}
	step := 1 << (bits.Len(uint(n-1)) - 4) // 1/8 of the enclosing power of two
	return (n + step - 1) / step * step
}

// get returns a block of at least n bytes (n > 0); the caller is inside
// with. Out of memory it collects garbage, empties the cache and retries
// once.
func (a *allocator) get(n int) (*allocation, error) {
	class := sizeClass(n)
	p, pool, err := a.take(class)
	if errors.Is(err, cu.OutOfMemory) && pool == nil {
		// (Not during a capture: freeing memory synchronizes, which would
		// invalidate it; the capture fails and the caller runs eagerly.)
		a.b.log.Warn("cuda: out of device memory, collecting garbage and emptying the cache", "request", class)
		// Cleanups run asynchronously after a GC; give them a moment to
		// return blocks before the cache is emptied.
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if derr := a.drain(); derr != nil {
			return nil, derr
		}
		p, pool, err = a.take(class)
	}
	if errors.Is(err, cu.OutOfMemory) {
		err = fmt.Errorf("%w: %w", kernels.ErrOutOfMemory, err)
	}
	if err != nil {
		return nil, fmt.Errorf("allocating %d bytes (class %d; %d live, %d cached): %w", n, class, a.liveBytes(), a.cachedBytes(), err)
	}
	s := &blockState{mem: a, ptr: p, class: class, pool: pool}
	al := &allocation{state: s}
	runtime.AddCleanup(al, func(s *blockState) { s.release() }, s)
	return al, nil
}

// take reuses a cached block of the class or allocates a new one; during a
// capture the block belongs to the capture's pool, which it returns.
func (a *allocator) take(class int) (cu.DevicePtr, *graphPool, error) {
	a.mu.Lock()
	pool := a.capture
	if pool != nil {
		if p, ok := pool.take(class); ok {
			a.mu.Unlock()
			return p, pool, nil
		}
	}
	if l := a.free[class]; len(l) > 0 {
		p := l[len(l)-1]
		a.free[class] = l[:len(l)-1]
		a.cached -= class
		a.live += class
		pool.own(class)
		a.mu.Unlock()
		return p, pool, nil
	}
	a.mu.Unlock()
	p, err := cu.MemAlloc(int64(class))
	if err != nil {
		return 0, pool, err
	}
	a.mu.Lock()
	a.live += class
	pool.own(class)
	a.mu.Unlock()
	return p, pool, nil
}

// put returns a block to its graph's pool while that graph lives, else to
// the cache (dropped after close: releasing the primary context frees it).
// A block from the shared cache released during a capture is held by the
// capturing graph's pool too: the graph may have recorded work on it.
func (a *allocator) put(p cu.DevicePtr, class int, pool *graphPool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	if pool == nil && a.capture != nil {
		pool = a.capture
		pool.own(class)
	}
	if pool.keep(p, class) {
		return
	}
	a.live -= class
	a.cached += class
	a.free[class] = append(a.free[class], p)
}

// drain frees every cached block. It synchronizes the stream first so no
// queued command can still touch a block being freed; the caller is inside
// with.
func (a *allocator) drain() error {
	if err := a.b.syncLocked(); err != nil {
		return err
	}
	a.mu.Lock()
	free := a.free
	a.free = map[int][]cu.DevicePtr{}
	a.cached = 0
	a.mu.Unlock()
	var errs []error
	for _, l := range free {
		for _, p := range l {
			if err := cu.MemFree(p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// close frees the cache and stops caching; the caller is inside with (or
// Close's equivalent).
func (a *allocator) close() error {
	err := a.drain()
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	return err
}

func (a *allocator) liveBytes() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.live
}

func (a *allocator) cachedBytes() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cached
}

// MemStats reports device bytes handed out to tensors and scratch (live)
// and held in the allocator's cache (cached).
func (b *Backend) MemStats() (live, cached int) {
	return b.mem.liveBytes(), b.mem.cachedBytes()
}

// EmptyCache frees the allocator's cached blocks (after a stream sync).
func (b *Backend) EmptyCache() error {
	return b.with(b.mem.drain)
}

// Free returns t's device memory to the cache at once instead of waiting
// for the garbage collector. It frees the whole underlying allocation, so
// t and every view sharing its storage must not be used afterwards. Work
// already queued on t is unaffected (stream order).
func (b *Backend) Free(t *kernels.Tensor) error {
	if t == nil || t.Dev == nil {
		return nil
	}
	d, ok := b.own(t)
	if !ok {
		return fmt.Errorf("cuda: free: %v is not memory of this backend", t)
	}
	if d.base != nil {
		d.base.state.release()
	}
	return nil
}

// newDevMem allocates n elements of elem bytes, not initialized; the
// caller is inside with.
func (b *Backend) newDevMem(n, elem int) (devMem, error) {
	d := devMem{n: n, elem: elem}
	if n == 0 {
		return d, nil
	}
	al, err := b.mem.get(n * elem)
	if err != nil {
		return devMem{}, err
	}
	d.base = al
	return d, nil
}

// ptr returns the device address of t's first element after checking that
// t lives in this backend's memory; a nil tensor gives 0 (for optional
// arguments). The address stays valid only while t is reachable: a caller
// that keeps only the address must runtime.KeepAlive(t) after enqueueing
// the work, or the GC cleanup could recycle the block first. Passing the
// tensor itself to launch does that automatically.
func (b *Backend) ptr(t *kernels.Tensor) (cu.DevicePtr, error) {
	if t == nil {
		return 0, nil
	}
	if t.Dev == nil {
		return 0, fmt.Errorf("cuda: tensor %v is in host memory, not on the GPU (Copy it to a tensor from Alloc first)", t)
	}
	d, ok := b.own(t)
	if !ok {
		return 0, fmt.Errorf("cuda: tensor %v is not memory of this cuda backend", t)
	}
	if d.n != t.Len() || d.elem != t.DType().Size() {
		return 0, fmt.Errorf("cuda: tensor %v: storage holds %d elements of %d bytes, want %d of %d",
			t, d.n, d.elem, t.Len(), t.DType().Size())
	}
	if d.base != nil && d.base.state.released.Load() {
		return 0, fmt.Errorf("cuda: tensor %v used after Free", t)
	}
	return d.ptr(), nil
}

// scratch returns temporary device memory of at least n bytes from the
// cache and a func that gives it back. Call the func once the kernels that
// use the memory are enqueued (typically with defer in the op wrapper):
// stream order makes immediate reuse safe (see the top of this file). The
// caller is inside with, or scratch enters it itself.
func (b *Backend) scratch(n int) (cu.DevicePtr, func(), error) {
	if n <= 0 {
		return 0, func() {}, nil
	}
	var al *allocation
	err := b.with(func() error {
		var err error
		al, err = b.mem.get(n)
		return err
	})
	if err != nil {
		return 0, nil, fmt.Errorf("cuda: scratch: %w", err)
	}
	// The func captures al, so the GC cleanup cannot return the block
	// before the caller releases it.
	return al.state.ptr, func() { al.state.release() }, nil
}

// MemInfo reports the device memory new work can use — the driver's free
// memory plus what the caching allocator holds unused — and the device's
// total, in bytes (a node sizes its batches from it: node/batchsize.go).
func (b *Backend) MemInfo() (free, total int64, err error) {
	err = b.with(func() error {
		var e error
		free, total, e = cu.MemInfo()
		return e
	})
	if err != nil {
		return 0, 0, fmt.Errorf("cuda: memory info: %w", err)
	}
	_, cached := b.MemStats()
	return free + int64(cached), total, nil
}
