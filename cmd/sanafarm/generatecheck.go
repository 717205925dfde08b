package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sanafarm/sanafarm/model/sana"
)

// latentCompression is the spatial compression of every Sana autoencoder
// (DC-AE f32c32, docs/sana.md): an unbinned size must be a multiple of it.
const latentCompression = 32

// checkGenerateFlags rejects flag values generate would only refuse after
// loading a model (README.md, "Exit codes": out of range or conflicting
// flags are usage errors, exit status 2, before anything is attempted).
func checkGenerateFlags(f generateFlags) error {
	switch {
	case f.count < 1 || f.batch < 1:
		return usagef("--count %d and --batch %d must be ≥ 1", f.count, f.batch)
	case f.sampler != "" && f.sampler != sana.SamplerDPM && f.sampler != sana.SamplerEuler:
		return usagef("--sampler %q: unknown sampler (want %s or %s)", f.sampler, sana.SamplerDPM, sana.SamplerEuler)
	case f.steps < 0:
		return usagef("--steps %d: want at least 1 (or leave it out for the model's default)", f.steps)
	case f.width < 0 || f.height < 0:
		return usagef("--width %d --height %d: want positive sizes (or leave them out for the model's size)", f.width, f.height)
	case f.strength < 0 || f.strength > 1:
		return usagef("--strength %g: want a value in (0, 1]", f.strength)
	case f.strength != 0 && f.initImage == "":
		return usagef("--strength %g needs --init-image (image-to-image)", f.strength)
	case f.noBinning && (f.width%latentCompression != 0 || f.height%latentCompression != 0):
		return usagef("--no-binning: --width %d and --height %d must each be a multiple of %d (the autoencoder's compression)",
			f.width, f.height, latentCompression)
	}
	images := len(f.prompts) * f.count
	if images > 1 && strings.EqualFold(filepath.Ext(f.dest), ".png") && !isDir(f.dest) {
		return usagef("--dest %s names one PNG file, but %d images are generated: give a directory (e.g. --dest %s/)",
			f.dest, images, strings.TrimSuffix(f.dest, filepath.Ext(f.dest)))
	}
	return nil
}

// prepareDest makes the folder the images go to before the model loads,
// so a destination that cannot be written fails in a second, not after a
// whole generation (writeImages decides file or folder the same way).
func prepareDest(dest string, images int) error {
	dir := filepath.Dir(dest)
	if isDir(dest) || strings.HasSuffix(dest, "/") || images > 1 {
		dir = dest
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--dest %s: creating its folder: %w", dest, err)
	}
	return nil
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
