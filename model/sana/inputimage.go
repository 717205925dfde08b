package sana

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg" // input images may be JPEGs
	_ "image/png"
)

// MaxInputSide bounds each side of an input image (an img2img init image
// or a ControlNet control image); larger ones are resized down anyway.
const MaxInputSide = 8192

// InputImageConfig reads an input image's header and refuses a format
// other than PNG or JPEG or a claimed size over MaxInputSide, without
// decoding any pixel: cheap enough to check every row image of a task
// before its model is loaded.
func InputImageConfig(b []byte) (image.Config, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return cfg, err
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > MaxInputSide || cfg.Height > MaxInputSide {
		return cfg, fmt.Errorf("image is %d×%d, want 1..%d on each side", cfg.Width, cfg.Height, MaxInputSide)
	}
	return cfg, nil
}

// DecodeInputImage decodes a PNG or JPEG input image. Its header is read
// first and a claimed size over MaxInputSide is refused before any pixel
// is allocated: a file of a few kilobytes can claim a 100000² image, and
// input images come from jobs, which are untrusted.
func DecodeInputImage(b []byte) (image.Image, error) {
	if _, err := InputImageConfig(b); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	return img, err
}
