package sana

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
)

// FuzzDecodeInputImage: input images come from jobs (docs/controlnet.md);
// any bytes either fail cleanly or decode to an image of 1..MaxInputSide
// pixels a side, whatever the header claims.
func FuzzDecodeInputImage(f *testing.F) {
	src := image.NewNRGBA(image.Rect(0, 0, 5, 3))
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 37)
	}
	var p, g, j bytes.Buffer
	if err := png.Encode(&p, src); err != nil {
		f.Fatal(err)
	}
	gray := image.NewGray16(image.Rect(0, 0, 2, 2))
	gray.SetGray16(1, 1, color.Gray16{Y: 0xffff})
	if err := png.Encode(&g, gray); err != nil {
		f.Fatal(err)
	}
	if err := jpeg.Encode(&j, src, &jpeg.Options{Quality: 50}); err != nil {
		f.Fatal(err)
	}
	for _, b := range [][]byte{p.Bytes(), g.Bytes(), j.Bytes(), p.Bytes()[:40], []byte("GIF89a"), nil} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := DecodeInputImage(b)
		if err != nil {
			return
		}
		r := img.Bounds()
		if r.Dx() < 1 || r.Dy() < 1 || r.Dx() > MaxInputSide || r.Dy() > MaxInputSide {
			t.Fatalf("decoded a %v image", r)
		}
	})
}
