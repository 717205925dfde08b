package sana

import (
	"bytes"
	"encoding/binary"
	"image"
	"testing"
)

// pngChunks lists a PNG's chunk types with their data, in file order.
func pngChunks(t *testing.T, b []byte) (types []string, data [][]byte) {
	t.Helper()
	for p := 8; p+12 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[p:]))
		types, data = append(types, string(b[p+4:p+8])), append(data, b[p+8:p+8+n])
		p += 12 + n
	}
	return types, data
}

// TestPNGTextChunkType: a Latin-1 value is a tEXt chunk in Latin-1 bytes
// (ImageMagick 6 shows no iTXt), anything else an iTXt chunk in UTF-8;
// ReadPNGText returns both as UTF-8.
func TestPNGTextChunkType(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	for _, c := range []struct {
		name, value, chunk string
		raw                []byte
	}{
		{"ascii", `{"prompt":"a fox","sample_seed":42}`, "tEXt", []byte(`{"prompt":"a fox","sample_seed":42}`)},
		{"latin-1", "a café", "tEXt", []byte("a caf\xe9")},
		{"beyond latin-1", "a café ☕", "iTXt", append([]byte{0, 0, 0, 0}, "a café ☕"...)},
		{"NUL", "a\x00b", "iTXt", append([]byte{0, 0, 0, 0}, "a\x00b"...)},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := EncodePNG(&buf, img, map[string]string{"parameters": c.value}); err != nil {
				t.Fatal(err)
			}
			types, data := pngChunks(t, buf.Bytes())
			if types[0] != "IHDR" || types[1] != c.chunk {
				t.Fatalf("chunks %v, want %s after IHDR", types, c.chunk)
			}
			if want := append([]byte("parameters\x00"), c.raw...); !bytes.Equal(data[1], want) {
				t.Fatalf("%s data %q, want %q", c.chunk, data[1], want)
			}
			got, err := ReadPNGText(bytes.NewReader(buf.Bytes()))
			if err != nil || (c.name != "NUL" && got["parameters"] != c.value) {
				t.Fatalf("read back %q: %v", got["parameters"], err)
			}
		})
	}
}
