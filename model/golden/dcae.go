package golden

import (
	"context"
	"fmt"
	"io/fs"
	"math"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dcae"
)

// TolDCAE is the max-abs tolerance of an AutoencoderDC case: about 4× the
// largest float32-vs-float64 difference of the dc_ae outputs (1.2e-5 on
// encoder latents of magnitude ~31), which is what reordered float32 sums
// produce; our port measures 1.4e-5 (encode) and 4.4e-6 (decode).
const TolDCAE = 5e-5

// dcaeCalls are the AutoencoderDC outputs a case may hold: output name,
// input name, and whether it is an encode.
var dcaeCalls = []struct {
	output, input string
	encode        bool
}{
	{"encode_latent", "image", true},
	{"decode_sample", "latent", false},
	{"decode_small_sample", "latent_small", false},
}

// runDCAE runs an AutoencoderDC case (model.safetensors) and reports one
// result: the worst max-abs difference over the outputs present.
func (r *Runner) runDCAE(ctx context.Context, fsys fs.FS, name string) []Result {
	res, err := r.dcaeWorst(ctx, fsys)
	return []Result{{Case: name, MaxAbs: res, Tol: r.tol(TolDCAE), Err: err}}
}

func (r *Runner) dcaeWorst(ctx context.Context, fsys fs.FS) (float64, error) {
	cfg, err := dcae.ReadConfig(fsys, "config.json")
	if err != nil {
		return 0, err
	}
	io, wf, err := openModule(fsys)
	if err != nil {
		return 0, err
	}
	defer io.Close()
	defer wf.Close()
	w, err := dcae.Load(cfg, wf, "model.safetensors", dcae.PartAll)
	if err != nil {
		return 0, err
	}
	m := dcae.New(cfg, w, r.Backend)
	worst, ran := 0.0, 0
	for _, c := range dcaeCalls {
		if _, ok := io.out.Info(c.output); !ok {
			continue
		}
		d, err := r.dcaeOnce(ctx, m, io, c.input, c.output, c.encode)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", c.output, err)
		}
		worst, ran = math.Max(worst, d), ran+1
	}
	if ran == 0 {
		return 0, fmt.Errorf("outputs.safetensors holds none of encode_latent, decode_sample, decode_small_sample")
	}
	return worst, nil
}

func (r *Runner) dcaeOnce(ctx context.Context, m *dcae.Model, io files, input, output string, encode bool) (float64, error) {
	host, err := io.in.Tensor(input)
	if err != nil {
		return 0, err
	}
	x, err := r.Backend.Alloc(kernels.Float32, host.Shape()...)
	if err != nil {
		return 0, err
	}
	if err := r.Backend.Copy(x, host); err != nil {
		return 0, err
	}
	var out *kernels.Tensor
	if encode {
		out, err = m.Encode(ctx, x)
	} else {
		out, err = m.Decode(ctx, x)
	}
	if err != nil {
		return 0, err
	}
	got := kernels.MustNew(kernels.Float32, out.Shape()...)
	if err := r.Backend.Copy(got, out); err != nil {
		return 0, err
	}
	return maxAbs(got, io.out, output)
}
