package golden

import (
	"io/fs"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/controlnet"
	"github.com/sanafarm/sanafarm/model/dcae"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/weights"
)

// Loaders of one part of a diffusers pipeline folder (transformer, vae,
// controlnet): its config.json and diffusion_pytorch_model checkpoint.

// openPart opens the checkpoint of a pipeline part; the caller closes it
// once the weights are bound.
func openPart(fsys fs.FS, part string) (*weights.Checkpoint, string, error) {
	wpath, err := weights.FindCheckpoint(fsys, part, "diffusion_pytorch_model", "")
	if err != nil {
		return nil, "", err
	}
	ck, err := weights.OpenCheckpoint(fsys, wpath)
	return ck, wpath, err
}

func (r *Runner) loadTransformer(fsys fs.FS) (*dit.Model, error) {
	cfg, err := dit.ReadConfig(fsys, "transformer/config.json")
	if err != nil {
		return nil, err
	}
	ck, wpath, err := openPart(fsys, "transformer")
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	w, err := dit.Load(cfg, ck, wpath)
	if err != nil {
		return nil, err
	}
	return dit.New(cfg, w, r.Backend), nil
}

// loadTransformerIO loads the case's transformer and opens its inputs and
// outputs (the caller closes io).
func (r *Runner) loadTransformerIO(fsys fs.FS) (*dit.Model, files, error) {
	m, err := r.loadTransformer(fsys)
	if err != nil {
		return nil, files{}, err
	}
	io, err := openIO(fsys)
	if err != nil {
		return nil, files{}, err
	}
	return m, io, nil
}

func loadVAE(fsys fs.FS, be kernels.Backend, part dcae.Part) (*dcae.Model, error) {
	cfg, err := dcae.ReadConfig(fsys, "vae/config.json")
	if err != nil {
		return nil, err
	}
	ck, wpath, err := openPart(fsys, "vae")
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	w, err := dcae.Load(cfg, ck, wpath, part)
	if err != nil {
		return nil, err
	}
	return dcae.New(cfg, w, be), nil
}

func loadControlNet(fsys fs.FS, be kernels.Backend) (*controlnet.Model, error) {
	cfg, err := controlnet.ReadConfig(fsys, "controlnet/config.json")
	if err != nil {
		return nil, err
	}
	ck, wpath, err := openPart(fsys, "controlnet")
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	w, err := controlnet.Load(cfg, ck, wpath)
	if err != nil {
		return nil, err
	}
	return controlnet.New(cfg, w, be), nil
}
