package golden

import (
	"io"
	"io/fs"
	"strings"

	"github.com/sanafarm/sanafarm/model/nvlabs"
	"github.com/sanafarm/sanafarm/model/pth"
	"github.com/sanafarm/sanafarm/model/weights"
)

// nvlabsCheckpoint is the weights file of an NVlabs-checkpoint case: a
// torch.save .pth with NVlabs names and no diffusers model.safetensors.
const nvlabsCheckpoint = "checkpoint.pth"

// transformerWeights names the weights of a transformer case:
// model.safetensors, or checkpoint.pth when only that is present.
func transformerWeights(fsys fs.FS) string {
	if !exists(fsys, "model.safetensors") && exists(fsys, nvlabsCheckpoint) {
		return nvlabsCheckpoint
	}
	return "model.safetensors"
}

// openWeights opens a safetensors file, or a .pth whose NVlabs names are
// mapped to the diffusers ones.
func openWeights(fsys fs.FS, name string) (weights.Source, io.Closer, error) {
	if !strings.HasSuffix(name, ".pth") {
		wf, err := weights.Open(fsys, name)
		if err != nil {
			return nil, nil, err
		}
		return wf, wf, nil
	}
	p, err := pth.OpenFS(fsys, name)
	if err != nil {
		return nil, nil, err
	}
	m, err := nvlabs.Map(p)
	if err != nil {
		p.Close()
		return nil, nil, err
	}
	return m, p, nil
}
