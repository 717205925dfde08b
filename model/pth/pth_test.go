package pth

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
)

const goldenPTH = "../../testdata/golden/nvlabs_checkpoint/checkpoint.pth"

// TestGoldenCheckpoint reads the torch.save file of the golden case: 48
// tensors whose bytes are exactly their storage members.
func TestGoldenCheckpoint(t *testing.T) {
	p, err := Open(goldenPTH)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	names := p.Names()
	if len(names) != 48 {
		t.Fatalf("%d tensors, want 48: %v", len(names), names)
	}
	in, ok := p.Info("blocks.0.attn.qkv.weight")
	if !ok || in.Raw != "F32" || !slices.Equal(in.Shape, []int{96, 32}) {
		t.Fatalf("qkv info %+v", in)
	}
	for _, n := range names {
		x, err := p.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		zf := p.members[p.tensors[n].st.key]
		rc, _ := zf.Open()
		raw, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(raw, f32s(x.F32()...)) {
			t.Errorf("%s: values differ from member %s", n, zf.Name)
		}
	}
}

// TestDTypesAndViews: bf16 and fp16 storages stay 16-bit, a storage
// offset and a shared storage are honoured, parameters unwrap, and a
// plain top-level state dict (no "state_dict" key) is read too.
func TestDTypesAndViews(t *testing.T) {
	bf := u16s(0x3f80, 0x4000, 0x4040, 0x4080, 0x40a0, 0x40c0) // 1..6 in bf16
	fp := u16s(0x3c00, 0x4000, 0x4200, 0x4400)                 // 1..4 in fp16
	pkl := stateDict(
		func(b *pk) { b.str("a").tensor("BFloat16Storage", "0", 6, 0, []int{2, 3}, []int{3, 1}) },
		func(b *pk) { b.str("b").tensor("BFloat16Storage", "0", 6, 4, []int{2}, []int{1}) },
		func(b *pk) {
			b.str("c").global("torch._utils", "_rebuild_parameter").op('(')
			b.tensor("HalfStorage", "1", 4, 0, []int{4}, []int{1}).op(0x88).global("collections", "OrderedDict").op(')', 'R', 't', 'R')
		},
		func(b *pk) { b.str("d").tensor("FloatStorage", "2", 1, 0, []int{1, 1}, []int{7, 7}) },
	)
	p, err := OpenBytes("views.pth", checkpoint(t, pkl, bf, fp, f32s(2.5)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		dt    kernels.DType
		shape []int
		vals  []float64
	}{
		"a": {kernels.BFloat16, []int{2, 3}, []float64{1, 2, 3, 4, 5, 6}},
		"b": {kernels.BFloat16, []int{2}, []float64{5, 6}},
		"c": {kernels.Float16, []int{4}, []float64{1, 2, 3, 4}},
		"d": {kernels.Float32, []int{1, 1}, []float64{2.5}},
	}
	for n, w := range want {
		x, err := p.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		var got []float64
		for i := range x.Len() {
			got = append(got, x.At(i))
		}
		if x.DType() != w.dt || !slices.Equal(x.Shape(), w.shape) || !slices.Equal(got, w.vals) {
			t.Errorf("%s = %v %v %v, want %v %v %v", n, x.DType(), x.Shape(), got, w.dt, w.shape, w.vals)
		}
	}
	plain := &pk{}
	plain.op(0x80, 2, '}', '(').str("w")
	plain.tensor("FloatStorage", "0", 1, 0, nil, nil).op('u', '.')
	p, err = OpenBytes("plain.pth", checkpoint(t, plain.Bytes(), f32s(float32(math.Pi))))
	if err != nil {
		t.Fatal(err)
	}
	if x, err := p.Tensor("w"); err != nil || x.Len() != 1 || x.F32()[0] != float32(math.Pi) {
		t.Fatalf("scalar: %v %v", x, err)
	}
}

// TestHostile: every refused construct errors, names the file and what
// was refused, and never panics.
func TestHostile(t *testing.T) {
	ok4 := f32s(1, 2, 3, 4)
	valid := func(b *pk) { b.str("w").tensor("FloatStorage", "0", 4, 0, []int{4}, []int{1}) }
	huge := &pk{}
	huge.op(0x80, 2, 'X', 0xf0, 0xff, 0xff, 0xff, 'a')
	cases := []struct {
		name, want string
		file       []byte
	}{
		{"os.system", "global os.system is refused",
			checkpoint(t, (&pk{}).global("os", "system").str("echo hi").op(0x85, 'R', '.').Bytes())},
		{"stack global", "global posix.system is refused",
			checkpoint(t, (&pk{}).op(0x80, 4).str("posix").str("system").op(0x93, '.').Bytes())},
		{"legacy storage", "_load_from_bytes",
			checkpoint(t, (&pk{}).global("torch.storage", "_load_from_bytes").op('.').Bytes())},
		{"builtins eval", "builtins.eval is refused",
			checkpoint(t, stateDict(func(b *pk) { b.str("x").global("builtins", "eval").str("1").op(0x85, 'R') }))},
		{"huge string", "exceeds", checkpoint(t, huge.Bytes())},
		{"storage larger than member", "do not match",
			checkpoint(t, stateDict(func(b *pk) { b.str("w").tensor("FloatStorage", "0", 1<<40, 0, []int{4}, []int{1}) }), ok4)},
		{"tensor overruns storage", "overruns",
			checkpoint(t, stateDict(func(b *pk) { b.str("w").tensor("FloatStorage", "0", 4, 2, []int{4}, []int{1}) }), ok4)},
		{"strided", "only contiguous",
			checkpoint(t, stateDict(func(b *pk) { b.str("w").tensor("FloatStorage", "0", 4, 0, []int{2, 2}, []int{1, 2}) }), ok4)},
		{"negative size", "negative",
			checkpoint(t, stateDict(func(b *pk) { b.str("w").tensor("FloatStorage", "0", 4, 0, []int{-4}, []int{1}) }), ok4)},
		{"missing member", "no data/0 member", checkpoint(t, stateDict(valid))},
		{"unknown storage", "torch.QInt8Storage",
			checkpoint(t, stateDict(func(b *pk) { b.str("w").tensor("QInt8Storage", "0", 4, 0, []int{4}, []int{1}) }), ok4)},
		{"compressed member", "compressed", archive(t, member{name: "ck/data.pkl", data: stateDict(valid)},
			member{name: "ck/data/0", data: ok4, method: zip.Deflate})},
		{"big endian", "little-endian", archive(t, member{name: "ck/data.pkl", data: stateDict(valid)},
			member{name: "ck/byteorder", data: []byte("big")}, member{name: "ck/data/0", data: ok4})},
		{"legacy format", "legacy", stateDict(valid)},
		{"no pickle", "no <name>/data.pkl", archive(t, member{name: "x/other", data: ok4})},
		{"REDUCE of a tuple", "REDUCE of a tuple", checkpoint(t, (&pk{}).op(')', ')', 'R', '.').Bytes())},
		{"INST opcode", "not allowed", checkpoint(t, []byte("(ios\nsystem\n."))},
		{"NEWOBJ opcode", "not allowed", checkpoint(t, (&pk{}).global("collections", "OrderedDict").op(')', 0x81, '.').Bytes())},
		{"BUILD with state", "BUILD with a dict state", checkpoint(t,
			(&pk{}).global("collections", "OrderedDict").op(')', 'R', '}').str("k").str("v").op('s', 'b', '.').Bytes())},
		{"long LONG1", "larger than int64", checkpoint(t, []byte("\x8a\x09123456789."))},
		{"no STOP", "without STOP", checkpoint(t, []byte("\x80\x02}"))},
		{"not a dict", "not a dict", checkpoint(t, []byte("\x80\x02]."))},
		{"entry not a tensor", `"x" is a list, not a tensor`, checkpoint(t, stateDict(func(b *pk) { b.str("x").op(']') }))},
		{"unset memo", "never stored", checkpoint(t, []byte("\x80\x02h\x07."))},
		{"stack underflow", "underflow", checkpoint(t, []byte("\x80\x02s."))},
		{"list key", "dict key of type list", checkpoint(t, []byte("}(]Nu."))},
		{"persistent id", "not ('storage'", checkpoint(t, (&pk{}).str("x").op('Q', '.').Bytes())},
	}
	for _, c := range cases {
		_, err := OpenBytes("hostile.pth", c.file)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "pth hostile.pth: ") {
			t.Errorf("%s: error %v, want one naming the file and containing %q", c.name, err, c.want)
		}
	}
}

// TestUnsupportedDTypeListed: an f64 tensor is listed but refused on read
// with its dtype named (optimizer states may hold such tensors).
func TestUnsupportedDTypeListed(t *testing.T) {
	var f64 bytes.Buffer
	binary.Write(&f64, binary.LittleEndian, []float64{1, 2})
	pkl := stateDict(func(b *pk) { b.str("d").tensor("DoubleStorage", "0", 2, 0, []int{2}, []int{1}) })
	p, err := OpenBytes("f64.pth", checkpoint(t, pkl, f64.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if in, ok := p.Info("d"); !ok || in.Raw != "F64" || in.DType != 0 {
		t.Fatalf("info %+v", in)
	}
	if _, err := p.Tensor("d"); err == nil || !strings.Contains(err.Error(), "dtype F64") {
		t.Fatalf("err %v", err)
	}
}
