package chaos

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image/png"
)

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// CheckPNG walks every chunk of a PNG checking its CRC (IHDR first, IEND
// last, nothing after it), then decodes the image and checks it is
// size×size (size 0: any).
func CheckPNG(b []byte, size int) error {
	if !bytes.HasPrefix(b, pngSignature) {
		return errors.New("png: bad signature")
	}
	rest := b[len(pngSignature):]
	for i := 0; ; i++ {
		if len(rest) < 12 {
			return fmt.Errorf("png: truncated chunk %d (%d bytes left)", i, len(rest))
		}
		n := binary.BigEndian.Uint32(rest)
		if uint64(n) > uint64(len(rest)-12) {
			return fmt.Errorf("png: chunk %d claims %d bytes, %d left", i, n, len(rest)-12)
		}
		typ := string(rest[4:8])
		body := rest[4 : 8+n]
		if got, want := crc32.ChecksumIEEE(body), binary.BigEndian.Uint32(rest[8+n:]); got != want {
			return fmt.Errorf("png: chunk %d (%s) crc %08x, stored %08x", i, typ, got, want)
		}
		if i == 0 && typ != "IHDR" {
			return fmt.Errorf("png: first chunk %s, want IHDR", typ)
		}
		rest = rest[12+n:]
		if typ == "IEND" {
			break
		}
	}
	if len(rest) != 0 {
		return fmt.Errorf("png: %d bytes after IEND", len(rest))
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("png: %w", err)
	}
	if r := img.Bounds(); size > 0 && (r.Dx() != size || r.Dy() != size) {
		return fmt.Errorf("png: %dx%d, want %dx%d", r.Dx(), r.Dy(), size, size)
	}
	return nil
}
