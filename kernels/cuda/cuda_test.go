//go:build cuda

package cuda

import (
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/kernelstest"
)

// These tests need a GPU: a cuda-tagged test binary exits in
// gorgonia.org/cu's init on machines without one, so CI only compiles them
// (make vet-cuda) and scripts/gpu-check.sh runs them on a GPU host.

var (
	sharedOnce sync.Once
	sharedBe   *Backend
	sharedErr  error
)

// testBackend returns one backend shared by the tests of this binary
// (creating a backend loads every PTX module, which takes a while).
func testBackend(t testing.TB) *Backend {
	t.Helper()
	sharedOnce.Do(func() { sharedBe, sharedErr = New(Config{}) })
	if sharedErr != nil {
		t.Skipf("no usable CUDA device: %v", sharedErr)
	}
	return sharedBe
}

func TestConformance(t *testing.T) {
	be := testBackend(t)
	// Asserted at run time so this file compiles while ops are missing.
	kb, ok := any(be).(kernels.Backend)
	if !ok {
		t.Fatal("*cuda.Backend does not implement kernels.Backend yet")
	}
	kernelstest.Run(t, func(t *testing.T) kernels.Backend { return kb })
	if err := be.Sync(); err != nil {
		t.Fatalf("sync after the suite: %v", err)
	}
}

// TestAllocOutOfMemory: an allocation past the card's memory fails with
// kernels.ErrOutOfMemory in its chain (the node reports that as its own
// fault, node/ownfault.go), and the backend still allocates afterwards.
func TestAllocOutOfMemory(t *testing.T) {
	be := testBackend(t)
	if _, err := be.Alloc(kernels.Float32, 1<<40); !errors.Is(err, kernels.ErrOutOfMemory) {
		t.Fatalf("Alloc of 4 TiB = %v, want an error wrapping kernels.ErrOutOfMemory", err)
	}
	if _, err := be.Alloc(kernels.Float32, 1024); err != nil {
		t.Fatalf("Alloc after an out-of-memory: %v", err)
	}
}

func TestCopyRoundTrip(t *testing.T) {
	be := testBackend(t)
	h := kernels.MustNew(kernels.Float32, 3, 1000)
	for i := range h.F32() {
		h.F32()[i] = float32(math.Sin(float64(i)))
	}
	for _, dt := range []kernels.DType{kernels.Float32, kernels.BFloat16, kernels.Float16} {
		d, err := be.Alloc(dt, 3, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if err := be.Copy(d, h); err != nil {
			t.Fatal(err)
		}
		d2, err := be.Alloc(kernels.Float32, 3, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if err := be.Copy(d2, d); err != nil { // device→device widening
			t.Fatal(err)
		}
		back := kernels.MustNew(kernels.Float32, 3, 1000)
		if err := be.Copy(back, d2); err != nil {
			t.Fatal(err)
		}
		for i, v := range back.F32() {
			want := h.F32()[i]
			if dt != kernels.Float32 {
				want = kernels.HalfToF32(dt, kernels.F32ToHalf(dt, want))
			}
			if v != want {
				t.Fatalf("%v round trip element %d: got %v, want %v", dt, i, v, want)
			}
		}
		if err := be.Free(d); err != nil {
			t.Fatal(err)
		}
		if err := be.Copy(back, d); err == nil {
			t.Fatal("Copy from a freed tensor succeeded")
		}
	}
}

// TestAllocReuseIsZeroed checks that cached blocks are cleared again.
func TestAllocReuseIsZeroed(t *testing.T) {
	be := testBackend(t)
	h := kernels.MustNew(kernels.Float32, 4096)
	for i := range h.F32() {
		h.F32()[i] = 7
	}
	for range 3 {
		d, err := be.Alloc(kernels.Float32, 4096)
		if err != nil {
			t.Fatal(err)
		}
		back := kernels.MustNew(kernels.Float32, 4096)
		if err := be.Copy(back, d); err != nil {
			t.Fatal(err)
		}
		for i, v := range back.F32() {
			if v != 0 {
				t.Fatalf("reused allocation element %d = %v, want 0", i, v)
			}
		}
		if err := be.Copy(d, h); err != nil {
			t.Fatal(err)
		}
		if err := be.Free(d); err != nil {
			t.Fatal(err)
		}
	}
	live, cached := be.MemStats()
	t.Logf("live %d bytes, cached %d bytes", live, cached)
}

func TestSizeClass(t *testing.T) {
	for _, c := range []struct{ n, want int }{{1, 512}, {512, 512}, {513, 1024}, {1 << 20, 1 << 20},
		{1<<20 + 1, 1<<20 + 1<<17}, {3 << 29, 3 << 29}, {3<<29 + 1, 3<<29 + 1<<27}} {
		if got := sizeClass(c.n); got != c.want {
			t.Errorf("sizeClass(%d) = %d, want %d", c.n, got, c.want)
		}
	}
}
