package nn

import (
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
)

type fakeDev struct{ n int }

func (f fakeDev) Slice(off, n int) kernels.DeviceMem { return fakeDev{n} }

// devBackend is the CPU backend whose Upload marks tensors as device ones,
// so the walk can be observed without a GPU.
type devBackend struct {
	*cpu.Backend
	uploads int
}

func (d *devBackend) Upload(t *kernels.Tensor) (*kernels.Tensor, error) {
	d.uploads++
	return kernels.NewDevice(t.DType(), fakeDev{t.Len()}, t.Shape()...)
}

type inner struct{ w, b *kernels.Tensor }
type outer struct {
	a      *kernels.Tensor
	in     inner
	list   []inner
	ptr    *inner
	arr    [2]*kernels.Tensor
	shared *inner
}

func TestPlaceVisitsEveryTensor(t *testing.T) {
	mk := func() *kernels.Tensor { return kernels.MustNew(kernels.Float32, 2) }
	sh := &inner{w: mk()}
	o := &outer{a: mk(), in: inner{mk(), mk()}, list: []inner{{w: mk()}, {b: mk()}}, ptr: &inner{w: mk()},
		arr: [2]*kernels.Tensor{mk(), nil}, shared: sh}
	be := &devBackend{Backend: cpu.New(cpu.Config{})}
	if err := Place(be, o); err != nil {
		t.Fatal(err)
	}
	for i, x := range []*kernels.Tensor{o.a, o.in.w, o.in.b, o.list[0].w, o.list[1].b, o.ptr.w, o.arr[0], o.shared.w} {
		if x.OnHost() {
			t.Errorf("tensor %d still on the host", i)
		}
	}
	if be.uploads != 8 {
		t.Errorf("%d uploads, want 8", be.uploads)
	}
	// A host backend keeps the very same tensors.
	o2 := &outer{a: mk()}
	keep := o2.a
	if err := Place(cpu.New(cpu.Config{}), o2); err != nil || o2.a != keep {
		t.Errorf("cpu placement replaced a host tensor: %v", err)
	}
	if err := Place(be, *o2); err == nil {
		t.Error("non-pointer root accepted")
	}
}
