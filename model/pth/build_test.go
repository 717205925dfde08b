package pth

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"testing"
)

// pk writes pickle opcodes for hand-made checkpoints (valid and hostile).
type pk struct{ bytes.Buffer }

func (b *pk) op(o ...byte) *pk { b.Write(o); return b }

func (b *pk) str(s string) *pk {
	b.WriteByte('X')
	binary.Write(&b.Buffer, binary.LittleEndian, uint32(len(s)))
	b.WriteString(s)
	return b
}

func (b *pk) int(n int) *pk {
	b.WriteByte('J')
	binary.Write(&b.Buffer, binary.LittleEndian, int32(n))
	return b
}

func (b *pk) global(mod, name string) *pk {
	b.WriteString("c" + mod + "\n" + name + "\n")
	return b
}

func (b *pk) ints(v ...int) *pk {
	b.op('(')
	for _, x := range v {
		b.int(x)
	}
	return b.op('t')
}

// tensor pushes _rebuild_tensor_v2(storage(typ, key, numel), off, size, stride, False, OrderedDict()).
func (b *pk) tensor(typ, key string, numel, off int, size, stride []int) *pk {
	b.global("torch._utils", "_rebuild_tensor_v2").op('(')
	b.op('(').str("storage").global("torch", typ).str(key).str("cpu").int(numel).op('t', 'Q')
	b.int(off).ints(size...).ints(stride...).op(0x89)
	b.global("collections", "OrderedDict").op(')', 'R')
	return b.op('t', 'R')
}

// stateDict wraps entries (key, then value pushers) as {"state_dict": {...}}.
func stateDict(entries ...func(*pk)) []byte {
	b := &pk{}
	b.op(0x80, 2, '}').str("state_dict").op('}', '(')
	for _, e := range entries {
		e(b)
	}
	b.op('u', 's', '.')
	return b.Bytes()
}

type member struct {
	name   string
	data   []byte
	method uint16
}

// archive zips members like torch.save (stored, under a prefix folder).
func archive(t testing.TB, members ...member) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: m.name, Method: m.method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(m.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkpoint is a torch.save-like archive of pickle and storages data/<i>.
func checkpoint(t testing.TB, pickle []byte, storages ...[]byte) []byte {
	ms := []member{{name: "ck/data.pkl", data: pickle}, {name: "ck/version", data: []byte("3\n")},
		{name: "ck/byteorder", data: []byte("little")}}
	for i, s := range storages {
		ms = append(ms, member{name: "ck/data/" + string(rune('0'+i)), data: s})
	}
	return archive(t, ms...)
}

func u16s(v ...uint16) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], x)
	}
	return b
}

func f32s(v ...float32) []byte {
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, v)
	return buf.Bytes()
}
