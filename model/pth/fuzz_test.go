package pth

import (
	"bytes"
	"os"
	"testing"
)

// FuzzPTH feeds corrupt and hostile checkpoints to the reader: inputs
// starting with "PK" are whole archives, anything else is used as the
// data.pkl of an archive holding a 16-float storage data/0. Opening must
// error or give tensors that all read back with their declared sizes;
// every allocation is bounded by the input's own length.
func FuzzPTH(f *testing.F) {
	if b, err := os.ReadFile(goldenPTH); err == nil {
		f.Add(b)
	}
	valid := stateDict(func(b *pk) { b.str("w").tensor("FloatStorage", "0", 16, 4, []int{3, 4}, []int{4, 1}) })
	f.Add(valid)
	f.Add(checkpoint(f, valid, make([]byte, 64)))
	f.Add((&pk{}).global("os", "system").str("id").op(0x85, 'R', '.').Bytes())
	f.Add([]byte("\x80\x02X\xf0\xff\xff\xff"))
	f.Add([]byte("}](u."))
	storage := make([]byte, 64)
	f.Fuzz(func(t *testing.T, data []byte) {
		file := data
		if !bytes.HasPrefix(data, []byte("PK")) {
			file = checkpoint(t, data, storage)
		}
		p, err := OpenBytes("fuzz.pth", file)
		if err != nil {
			return
		}
		for _, n := range p.Names() {
			in, _ := p.Info(n)
			x, err := p.Tensor(n)
			if in.DType == 0 {
				continue
			}
			if err != nil {
				t.Fatalf("tensor %q listed but unreadable: %v", n, err)
			}
			if int64(x.Len())*int64(in.DType.Size()) != in.End-in.Begin || in.End-in.Begin > int64(len(file)) {
				t.Fatalf("tensor %q: %d elements for %d bytes", n, x.Len(), in.End-in.Begin)
			}
		}
	})
}
