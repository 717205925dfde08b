package main

import (
	"fmt"
	"image"
	_ "image/jpeg" // --init-image may be a JPEG
	_ "image/png"
	"os"
)

// readInitImage decodes --init-image (PNG or JPEG).
func readInitImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--init-image: %w", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("--init-image %s: %w", path, err)
	}
	return img, nil
}
