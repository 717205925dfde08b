package main

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sanafarm/sanafarm/model/hub"
	"github.com/sanafarm/sanafarm/model/sana"
)

// controlNetFiles are what --controlnet hf://OWNER/REPO downloads: the
// diffusers layout of a SanaControlNetModel repo (single-file weights).
var controlNetFiles = []string{"config.json", "diffusion_pytorch_model.safetensors"}

// resolveControlNet turns --controlnet (a SanaControlNetModel folder or
// hf://OWNER/REPO) into a folder; "" gives nil.
func resolveControlNet(ctx context.Context, src string, progress io.Writer) (fs.FS, error) {
	if src == "" {
		return nil, nil
	}
	if !hub.IsURL(src) {
		if st, err := os.Stat(src); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("--controlnet %s: want a SanaControlNetModel folder (config.json, diffusion_pytorch_model.safetensors) or hf://OWNER/REPO", src)
		}
		return os.DirFS(src), nil
	}
	if strings.Count(strings.TrimPrefix(src, hub.URLScheme), "/") != 1 {
		return nil, fmt.Errorf("--controlnet %s: want hf://OWNER/REPO (the repo's root holds the ControlNet)", src)
	}
	cfg := hub.ConfigFromEnv()
	cfg.Progress = hub.NewBar(progress)
	c, err := hub.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the Hugging Face cache: %w", err)
	}
	var dir string
	for _, name := range controlNetFiles {
		path, _, err := c.DownloadURL(ctx, src+"/"+name)
		if errors.Is(err, hub.ErrOffline) {
			return nil, fmt.Errorf("--controlnet %s is not cached and HF_HUB_OFFLINE is set: %w", src, err)
		}
		if err != nil {
			return nil, fmt.Errorf("--controlnet %s: %w", src, err)
		}
		dir = filepath.Dir(path)
	}
	return os.DirFS(dir), nil
}

// controlRequest adds --control-image and --controlnet-scale to req.
func controlRequest(f generateFlags, req *sana.Request) error {
	if f.controlImage == "" {
		return nil
	}
	img, err := readImage("--control-image", f.controlImage)
	if err != nil {
		return err
	}
	req.ControlImage, req.ControlImageSource, req.ControlScale = img, f.controlImage, f.controlScale
	return nil
}

// readImage decodes a PNG or JPEG named by flag (--init-image,
// --control-image), bounded as every input image is (sana.DecodeInputImage).
func readImage(flag, path string) (image.Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	img, err := sana.DecodeInputImage(b)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return img, nil
}
