// Package golden runs a reference case folder in the golden format (a
// module config, inputs.safetensors, outputs.safetensors, weights) through
// our implementation and compares with the reference outputs. It is how
// users check a port against diffusers/transformers on new configs.
package golden

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/controlnet"
	"github.com/sanafarm/sanafarm/model/gemma2"
	"github.com/sanafarm/sanafarm/model/weights"
)

// Default tolerances (max abs) per output kind, from the case READMEs.
const (
	TolTransformer     = 1e-4
	TolTransformerBF16 = 5e-2
	TolScheduler       = 1e-5
	TolLoop            = 5e-4
)

// Result is one compared output of a case.
type Result struct {
	Case   string
	MaxAbs float64
	Tol    float64
	Err    error // set when the case could not run
	// Skip, when set, says why the case was not compared in this mode
	// (bf16.go); a skipped case neither passes a tolerance nor fails.
	Skip string
}

// Pass reports whether the case ran and is within tolerance, or was
// skipped on purpose.
func (r Result) Pass() bool { return r.Err == nil && (r.Skip != "" || r.MaxAbs <= r.Tol) }

// String is the one-line report `PASS|FAIL <case> max_abs=<x> tol=<t>`,
// or `SKIP <case>: <why>`.
func (r Result) String() string {
	if r.Err != nil {
		return fmt.Sprintf("FAIL %s error: %v", r.Case, r.Err)
	}
	if r.Skip != "" {
		return fmt.Sprintf("SKIP %s: %s", r.Case, r.Skip)
	}
	verdict := "PASS"
	if !r.Pass() {
		verdict = "FAIL"
	}
	return fmt.Sprintf("%s %s max_abs=%.3e tol=%.0e", verdict, r.Case, r.MaxAbs, r.Tol)
}

// ErrUnknownCase is returned for a folder whose files name no module we
// implement.
var ErrUnknownCase = errors.New("unknown case")

// Runner runs cases on one backend.
type Runner struct {
	Backend kernels.Backend
	// Tol, when > 0, overrides every default tolerance.
	Tol float64
	// Tokenizer is the Gemma tokenizer.json for tokenizer cases (default:
	// GemmaTokenizerPath()).
	Tokenizer string
}

func (r *Runner) tol(def float64) float64 {
	if r.Tol > 0 {
		return r.Tol
	}
	return def
}

// Run dispatches on the files present in the case folder fsys (named name
// in results): model_index.json → pipeline (denoising loop, then decode);
// config.json → the module its _class_name / model_type names
// (SanaTransformer2DModel — weights model.safetensors, or an NVlabs
// checkpoint.pth mapped to diffusers names —, AutoencoderDC, gemma2);
// scheduler_config.json →
// the scheduler; tokens.json → the Gemma tokenizer and Sana prompt
// handling; only seed<S>_<shape> outputs → the torch-compatible randn.
func (r *Runner) Run(ctx context.Context, fsys fs.FS, name string) []Result {
	fail := func(err error) []Result { return []Result{{Case: name, Err: err}} }
	switch {
	case exists(fsys, "model_index.json"):
		return r.runLoop(ctx, fsys, name)
	case exists(fsys, "config.json"):
		class, err := className(fsys, "config.json")
		if err != nil {
			return fail(err)
		}
		if class == "SanaTransformer2DModel" && isLoRACase(fsys) {
			return r.runLoRA(ctx, fsys, name)
		}
		if class == "SanaTransformer2DModel" {
			return r.runTransformer(ctx, fsys, name)
		}
		if class == controlnet.ClassName {
			return r.runControlNet(ctx, fsys, name)
		}
		if (class == "AutoencoderDC" || class == "model_type "+gemma2.ModelType) && r.bf16() {
			return f32Only(name)
		}
		if class == "AutoencoderDC" {
			return r.runDCAE(ctx, fsys, name)
		}
		if class == "model_type "+gemma2.ModelType {
			return r.runGemma2(ctx, fsys, name)
		}
		return fail(fmt.Errorf("%w: config.json names %q, which is not implemented", ErrUnknownCase, class))
	case exists(fsys, "scheduler_config.json"):
		return r.runScheduler(fsys, name)
	case exists(fsys, "tokens.json"):
		return r.runTokenizer(fsys, name)
	case isRandnCase(fsys):
		return r.runRandn(fsys, name)
	}
	return fail(fmt.Errorf("%w: no model_index.json, config.json, scheduler_config.json, tokens.json or seed<S>_<shape> outputs", ErrUnknownCase))
}

func exists(fsys fs.FS, name string) bool {
	_, err := fs.Stat(fsys, name)
	return err == nil
}

func className(fsys fs.FS, name string) (string, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return "", err
	}
	var c struct {
		Class     string `json:"_class_name"`
		ModelType string `json:"model_type"` // transformers configs
	}
	if err := weights.DecodeJSON(b, &c); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if c.Class == "" && c.ModelType != "" {
		return "model_type " + c.ModelType, nil
	}
	return c.Class, nil
}

// files opens inputs.safetensors and outputs.safetensors of a case.
type files struct{ in, out *weights.File }

func openIO(fsys fs.FS) (files, error) {
	in, err := weights.Open(fsys, "inputs.safetensors")
	if err != nil {
		return files{}, err
	}
	out, err := weights.Open(fsys, "outputs.safetensors")
	if err != nil {
		in.Close()
		return files{}, err
	}
	return files{in, out}, nil
}

func (f files) Close() { f.in.Close(); f.out.Close() }

// openModule opens a module case: its inputs, outputs and model.safetensors.
func openModule(fsys fs.FS) (files, *weights.File, error) {
	io, err := openIO(fsys)
	if err != nil {
		return files{}, nil, err
	}
	wf, err := weights.Open(fsys, "model.safetensors")
	if err != nil {
		io.Close()
		return files{}, nil, err
	}
	return io, wf, nil
}

// maxAbs compares got with the reference output want of f.out; NaN
// anywhere counts as an infinite difference.
func maxAbs(got *kernels.Tensor, out *weights.File, want string) (float64, error) {
	ref, shape, err := out.Float64s(want)
	if err != nil {
		return 0, err
	}
	if len(ref) != got.Len() {
		return 0, fmt.Errorf("output %s: reference shape %v, ours %v", want, shape, got.Shape())
	}
	worst := 0.0
	for i, w := range ref {
		d := math.Abs(got.At(i) - w)
		if math.IsNaN(d) {
			return math.Inf(1), nil
		}
		worst = math.Max(worst, d)
	}
	return worst, nil
}

// jsonNames lists the keys of a JSON object file (used for model_index).
func jsonNames(fsys fs.FS, name string) (map[string]json.RawMessage, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := weights.DecodeJSON(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}
