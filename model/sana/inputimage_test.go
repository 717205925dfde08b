package sana

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
	"strings"
	"testing"
)

// TestDecodeInputImage: a normal PNG decodes; a PNG whose header claims a
// huge image is refused before decoding (a decompression bomb would
// otherwise allocate tens of gigabytes), as are junk and empty input.
func TestDecodeInputImage(t *testing.T) {
	var ok bytes.Buffer
	if err := png.Encode(&ok, image.NewRGBA(image.Rect(0, 0, 4, 3))); err != nil {
		t.Fatal(err)
	}
	img, err := DecodeInputImage(ok.Bytes())
	if err != nil || img.Bounds().Dx() != 4 || img.Bounds().Dy() != 3 {
		t.Fatalf("4×3 PNG: %v %v", img, err)
	}
	bomb := append([]byte(nil), ok.Bytes()...)
	// IHDR starts at byte 8 (length) + 4 (type): patch width/height, fix its CRC.
	binary.BigEndian.PutUint32(bomb[16:], 100000)
	binary.BigEndian.PutUint32(bomb[20:], 100000)
	binary.BigEndian.PutUint32(bomb[29:], crc32.ChecksumIEEE(bomb[12:29]))
	if _, err := DecodeInputImage(bomb); err == nil || !strings.Contains(err.Error(), "100000×100000") {
		t.Errorf("100000² claim: %v, want a refusal naming the size", err)
	}
	for _, bad := range [][]byte{nil, []byte("not an image")} {
		if _, err := DecodeInputImage(bad); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}
