package golden

import (
	"fmt"
	"io/fs"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/sampler"
	"github.com/sanafarm/sanafarm/model/sana"
)

// Shared steps of the pipeline cases (PAG, ControlNet, Sprint img2img).

// runLabel names a case's run in results ("name[run]", the main run
// plain) and gives the prefix of its tensors in outputs.safetensors.
func runLabel(name, run string) (label, prefix string) {
	if run == "main" {
		return name, ""
	}
	return name + "[" + run + "]", run + "."
}

// guidedLoop builds the flow sampler of the case's scheduler config for
// steps and the denoising request of its recorded inputs.
func guidedLoop(fsys fs.FS, io files, steps int, guidance float64) (sampler.Sampler, sana.DenoiseRequest, error) {
	sc, err := sampler.ReadConfig(fsys, "scheduler/scheduler_config.json")
	if err != nil {
		return nil, sana.DenoiseRequest{}, err
	}
	s, err := sampler.New(sc, steps)
	if err != nil {
		return nil, sana.DenoiseRequest{}, err
	}
	req, err := loopRequest(io.in, loopParams{steps: steps, guidance: float32(guidance)})
	return s, req, err
}

// preprocessedImage reads the uint8 [H, W, 3] input image name,
// preprocesses it as the pipeline does and checks name+"_preprocessed",
// which must match exactly (resizing and normalising are deterministic).
func preprocessedImage(io files, name string) (*kernels.Tensor, error) {
	vals, shape, err := io.in.Float64s(name)
	if err != nil || len(shape) != 3 || shape[2] != 3 {
		return nil, fmt.Errorf("pipeline inputs: %s %v, want uint8 [H, W, 3]: %v", name, shape, err)
	}
	pix := make([]uint8, len(vals))
	for i, v := range vals {
		pix[i] = uint8(v)
	}
	x, err := sana.PreprocessImage(pix, shape[0], shape[1])
	if err != nil {
		return nil, err
	}
	if d, err := maxAbs(x, io.out, name+"_preprocessed"); err != nil || d != 0 {
		return nil, fmt.Errorf("%s_preprocessed differs by %g (must match exactly): %v", name, d, err)
	}
	return x, nil
}
