package weights

import (
	"os"
	"testing"
)

// FuzzOpenBytes feeds arbitrary bytes to the safetensors parser: it must
// return an error or a header whose every tensor can be read, never panic.
func FuzzOpenBytes(f *testing.F) {
	if b, err := os.ReadFile("testdata/golden_inputs.safetensors"); err == nil {
		f.Add(b)
	}
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, '{', '}'})
	f.Add([]byte("\x30\x00\x00\x00\x00\x00\x00\x00" + `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}` + "abcd"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := OpenBytes("fuzz", data)
		if err != nil {
			return
		}
		for _, n := range sf.Header.Names() {
			if sf.Header.Tensors[n].DType == 0 {
				if _, _, err := sf.Float64s(n); err != nil {
					t.Fatalf("header accepted but tensor %q unreadable: %v", n, err)
				}
				continue
			}
			if _, err := sf.Tensor(n); err != nil {
				t.Fatalf("header accepted but tensor %q unreadable: %v", n, err)
			}
		}
	})
}

// FuzzDecodeJSON checks the non-finite rewriting never panics.
func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"x": -Infinity, "y": "NaN"}`))
	f.Add([]byte(`{"a":"\"Infinity\\"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v map[string]any
		_ = DecodeJSON(data, &v)
	})
}
