package kernels

import (
	"strings"
	"testing"
)

func TestCheckMatMulMessages(t *testing.T) {
	a := MustNew(Float32, 2, 5, 7)
	dst := MustNew(Float32, 2, 5, 3)
	cases := []struct {
		dst, a, w, bias *Tensor
		want            string
	}{
		{dst, a, MustNew(Float32, 3, 6), nil, "kernels: matmul: a F32[2 5 7] and w F32[3 6]: inner dimensions 7 != 6"},
		{dst, a, nil, nil, "kernels: matmul: w is nil"},
		{dst, MustNew(Float16, 2, 5, 7), MustNew(Float32, 3, 7), nil, "a F16[2 5 7]: dtype must be F32 or BF16"},
		{MustNew(Int32, 2, 5, 3), a, MustNew(Float32, 3, 7), nil, "dst I32[2 5 3]: dtype must be F32 or BF16"},
		{dst, a, MustNew(Int32, 3, 7), nil, "w I32[3 7]: dtype must be F32, BF16 or F16"},
		{dst, a, MustNew(Float32, 3, 7), MustNew(Float32, 4), "bias F32[4]: want shape [3]"},
		{MustNew(Float32, 10, 3), a, MustNew(Float32, 3, 7), nil, "dst F32[10 3]: want shape [2 5 3]"},
	}
	for _, c := range cases {
		_, _, _, err := CheckMatMul(c.dst, c.a, c.w, c.bias)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
	m, n, k, err := CheckMatMul(dst, a, MustNew(Float16, 3, 7), MustNew(BFloat16, 3))
	if err != nil || m != 10 || n != 3 || k != 7 {
		t.Fatalf("valid matmul: %d %d %d %v", m, n, k, err)
	}
	// bf16 activations in and out
	if _, _, _, err := CheckMatMul(MustNew(BFloat16, 2, 5, 3), MustNew(BFloat16, 2, 5, 7), MustNew(BFloat16, 3, 7), nil); err != nil {
		t.Fatalf("bf16 activations refused: %v", err)
	}
}

func TestCheckAliasing(t *testing.T) {
	x := MustNew(Float32, 4, 8)
	half, _ := x.Slice(1, 3)
	if _, err := CheckActivate(x, x, ActSiLU); err != nil {
		t.Fatalf("in-place activate rejected: %v", err)
	}
	if _, _, _, err := CheckSoftmax(MustNew(Float32, 2, 8), half, nil); err != nil {
		t.Fatal(err)
	}
	part, _ := x.Slice(0, 2)
	if _, _, _, err := CheckSoftmax(part, half, nil); err == nil || !strings.Contains(err.Error(), "partially overlaps") {
		t.Fatalf("partial overlap: %v", err)
	}
	if _, _, _, err := CheckMatMul(part, half, MustNew(Float32, 8, 8), nil); err == nil || !strings.Contains(err.Error(), "must not alias") {
		t.Fatalf("matmul alias: %v", err)
	}
}

func TestCheckConv2D(t *testing.T) {
	x := MustNew(Float32, 1, 8, 8, 6)
	w := MustNew(BFloat16, 4, 3, 3, 3)
	d, err := CheckConv2D(MustNew(Float32, 1, 4, 4, 4), x, w, nil, ConvParams{Stride: 2, Pad: 1, Groups: 2})
	if err != nil || d.Ho != 4 || d.Wo != 4 || d.CinG != 3 || d.CoutG != 2 {
		t.Fatalf("conv dims %+v, %v", d, err)
	}
	_, err = CheckConv2D(MustNew(Float32, 1, 4, 4, 4), x, w, nil, ConvParams{Stride: 2, Pad: 1, Groups: 1})
	if err == nil || !strings.Contains(err.Error(), "3 input channels per group, want 6") {
		t.Fatalf("groups mismatch: %v", err)
	}
	if _, err := CheckConv2D(nil, x, w, nil, ConvParams{}); err == nil {
		t.Fatal("nil dst accepted")
	}
}

func TestCheckJoinAndHost(t *testing.T) {
	a, b := MustNew(Int64, 2, 3), MustNew(Int64, 2, 5)
	jd, err := CheckConcat(MustNew(Int64, 2, 8), -1, a, b)
	if err != nil || jd.Outer != 2 || jd.Inner != 1 || jd.Sizes[1] != 5 {
		t.Fatalf("concat %+v %v", jd, err)
	}
	if _, err := CheckConcat(MustNew(Int64, 2, 9), 1, a, b); err == nil {
		t.Fatal("bad concat sizes accepted")
	}
	dev, _ := NewDevice(Float32, nil, 2)
	dev.Dev = checkDevMem{}
	if err := RequireHost("op", a, nil, dev); err == nil || !strings.Contains(err.Error(), "not in host memory") {
		t.Fatalf("device tensor: %v", err)
	}
}

type checkDevMem struct{}

func (checkDevMem) Slice(off, n int) DeviceMem { return checkDevMem{} }

func TestOIHWToOHWI(t *testing.T) {
	w := MustNew(Float32, 2, 3, 1, 2) // [O I H W]
	for i := range w.f32 {
		w.f32[i] = float32(i)
	}
	o, err := OIHWToOHWI(w)
	if err != nil {
		t.Fatal(err)
	}
	// out[a, y, x, c] = w[a, c, y, x]
	for a := range 2 {
		for x := range 2 {
			for c := range 3 {
				if got, want := o.f32[(a*2+x)*3+c], w.f32[(a*3+c)*2+x]; got != want {
					t.Fatalf("[%d %d %d] = %g, want %g", a, x, c, got, want)
				}
			}
		}
	}
	if _, err := OIHWToOHWI(MustNew(Float32, 2, 3)); err == nil {
		t.Fatal("rank-2 weight accepted")
	}
}
