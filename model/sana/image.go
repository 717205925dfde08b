package sana

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"io"
	"math"
	"sort"
)

// toUnit is the pipeline's output_type "pt" post-process of a decoded
// image: (x/2 + 0.5) clamped to [0, 1], in float32.
func toUnit(x float32) float32 {
	return min(max(x/2+0.5, 0), 1)
}

// toByte is numpy_to_pil's (images·255).round() on a [0, 1] value: the
// float32 product rounded half to even.
func toByte(u float32) uint8 {
	return uint8(math.RoundToEven(float64(u * 255)))
}

// toImages converts decoded NCHW images (3 channels, roughly [−1, 1]) into
// opaque NRGBA images.
func toImages(x []float32, n, c, h, w int) ([]*image.NRGBA, error) {
	if c != 3 {
		return nil, fmt.Errorf("post-processing: decoded images have %d channels, want 3", c)
	}
	out := make([]*image.NRGBA, n)
	plane := h * w
	for b := range out {
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		src := x[b*c*plane : (b+1)*c*plane]
		for p := 0; p < plane; p++ {
			o := img.Pix[4*p : 4*p+4 : 4*p+4]
			o[0] = toByte(toUnit(src[p]))
			o[1] = toByte(toUnit(src[plane+p]))
			o[2] = toByte(toUnit(src[2*plane+p]))
			o[3] = 255
		}
		out[b] = img
	}
	return out, nil
}

// pngSignature starts every PNG file.
var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// EncodePNG writes img as PNG with one text chunk per entry, placed right
// after IHDR, keys in sorted order: tEXt (Latin-1) when the value is
// Latin-1 encodable, which every PNG reader shows (ImageMagick 6 shows no
// iTXt), else iTXt (UTF-8, uncompressed). Keys must be 1–79 Latin-1
// characters without NUL.
func EncodePNG(w io.Writer, img image.Image, text map[string]string) error {
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
		return fmt.Errorf("encoding png: %w", err)
	}
	b := buf.Bytes()
	const ihdrEnd = 8 + 8 + 13 + 4 // signature, IHDR length+type, IHDR data, CRC
	if len(b) < ihdrEnd || !bytes.Equal(b[:8], pngSignature) || string(b[12:16]) != "IHDR" {
		return errors.New("encoding png: unexpected encoder output")
	}
	keys := make([]string, 0, len(text))
	for k := range text {
		if len(k) == 0 || len(k) > 79 || bytes.IndexByte([]byte(k), 0) >= 0 {
			return fmt.Errorf("encoding png: invalid text key %q", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out bytes.Buffer
	out.Write(b[:ihdrEnd])
	for _, k := range keys {
		if l1, ok := latin1(text[k]); ok {
			writeChunk(&out, "tEXt", append(append([]byte(k), 0), l1...))
			continue
		}
		data := append([]byte(k), 0, 0, 0, 0, 0) // NUL, compression flag, method, empty language, NUL
		data = append(data, text[k]...)
		writeChunk(&out, "iTXt", data)
	}
	out.Write(b[ihdrEnd:])
	if _, err := w.Write(out.Bytes()); err != nil {
		return fmt.Errorf("writing png: %w", err)
	}
	return nil
}

// latin1 encodes s as ISO 8859-1, if every rune is in it (and not NUL,
// which ends a tEXt field).
func latin1(s string) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r == 0 || r > 0xff { // invalid UTF-8 decodes as U+FFFD, > 0xff
			return nil, false
		}
		out = append(out, byte(r))
	}
	return out, true
}

func writeChunk(w *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	w.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	w.WriteString(typ)
	w.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	w.Write(n[:])
}

// ReadPNGText returns the tEXt and uncompressed iTXt entries of a PNG,
// checking every chunk's CRC.
func ReadPNGText(r io.Reader) (map[string]string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading png: %w", err)
	}
	if len(b) < 8 || !bytes.Equal(b[:8], pngSignature) {
		return nil, errors.New("reading png: not a PNG file")
	}
	text := map[string]string{}
	for p := 8; p+12 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[p:]))
		if n < 0 || p+12+n > len(b) {
			return nil, fmt.Errorf("reading png: chunk at offset %d overruns the file", p)
		}
		typ, data := string(b[p+4:p+8]), b[p+8:p+8+n]
		if crc32.ChecksumIEEE(b[p+4:p+8+n]) != binary.BigEndian.Uint32(b[p+8+n:]) {
			return nil, fmt.Errorf("reading png: bad CRC in %s chunk at offset %d", typ, p)
		}
		if k, v, ok := parseText(typ, data); ok {
			text[k] = v
		}
		p += 12 + n
		if typ == "IEND" {
			break
		}
	}
	return text, nil
}

// parseText decodes a tEXt chunk or an uncompressed iTXt chunk.
func parseText(typ string, data []byte) (string, string, bool) {
	key, rest, ok := bytes.Cut(data, []byte{0})
	if !ok {
		return "", "", false
	}
	switch typ {
	case "tEXt": // Latin-1
		v := make([]rune, len(rest))
		for i, c := range rest {
			v[i] = rune(c)
		}
		return string(key), string(v), true
	case "iTXt":
		if len(rest) < 2 || rest[0] != 0 {
			return "", "", false // compressed iTXt is not produced by us
		}
		_, rest, ok = bytes.Cut(rest[2:], []byte{0}) // language tag
		if !ok {
			return "", "", false
		}
		_, rest, ok = bytes.Cut(rest, []byte{0}) // translated keyword
		return string(key), string(rest), ok
	}
	return "", "", false
}
