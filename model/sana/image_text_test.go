package sana

import (
	"bytes"
	"encoding/binary"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// TestPNGTextPython reads our text chunks back with a PNG chunk parser
// written against the PNG specification in Python's standard library
// (struct, zlib.crc32), independently of ReadPNGText.
func TestPNGTextPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	var buf bytes.Buffer
	text := map[string]string{"parameters": `{"prompt":"a café","sample_seed":7}`, "Comment": "☕ pour-over"}
	if err := EncodePNG(&buf, image.NewRGBA(image.Rect(0, 0, 2, 2)), text); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "a.png")
	if err := os.WriteFile(f, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
import json, struct, sys, zlib
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n"
p, out = 8, {}
while p < len(b):
    n, typ = struct.unpack(">I4s", b[p:p+8])
    data = b[p+8:p+8+n]
    assert zlib.crc32(typ + data) == struct.unpack(">I", b[p+8+n:p+12+n])[0], typ
    if typ == b"tEXt":
        k, v = data.split(b"\0", 1)
        out[k.decode("latin-1")] = ["tEXt", v.decode("latin-1")]
    elif typ == b"iTXt":
        k, rest = data.split(b"\0", 1)
        assert rest[0] == 0  # uncompressed
        lang, rest = rest[2:].split(b"\0", 1)
        tk, v = rest.split(b"\0", 1)
        out[k.decode("latin-1")] = ["iTXt", v.decode("utf-8")]
    p += 12 + n
print(json.dumps(out, ensure_ascii=False))
`
	got, err := exec.Command(py, "-c", script, f).Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	want := `{"Comment": ["iTXt", "☕ pour-over"], "parameters": ["tEXt", "{\"prompt\":\"a café\",\"sample_seed\":7}"]}`
	if strings.TrimSpace(string(got)) != want {
		t.Fatalf("python read %s, want %s", got, want)
	}
}
