package golden

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"slices"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/lora"
	"github.com/sanafarm/sanafarm/model/weights"
)

// loraCall is a LoRA case's call.json: the adapter files and, per output,
// the active adapters, their weights and the lora scale.
type loraCall struct {
	Adapters []struct {
		File string `json:"file"`
		Name string `json:"name"`
	} `json:"adapters"`
	Runs map[string]json.RawMessage `json:"runs"`
}

type loraRun struct {
	Adapters    []string  `json:"adapters"`     // loaded adapters, weight 1
	SetAdapters []string  `json:"set_adapters"` // or set_adapters(…, adapter_weights)
	Weights     []float64 `json:"adapter_weights"`
	Kwargs      *struct {
		Scale *float64 `json:"scale"`
	} `json:"attention_kwargs"`
}

// isLoRACase reports a transformer case whose call.json lists adapters.
func isLoRACase(fsys fs.FS) bool {
	c, err := readLoRACall(fsys)
	return err == nil && len(c.Adapters) > 0
}

func readLoRACall(fsys fs.FS) (loraCall, error) {
	var c loraCall
	b, err := fs.ReadFile(fsys, "call.json")
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(b, &c)
}

// runLoRA runs a LoRA transformer case: every output of call.json's runs,
// once with the adapters fused into the weights and once unfused.
func (r *Runner) runLoRA(ctx context.Context, fsys fs.FS, name string) []Result {
	fail := func(err error) []Result { return []Result{{Case: name, Err: err}} }
	call, err := readLoRACall(fsys)
	if err != nil {
		return fail(fmt.Errorf("call.json: %w", err))
	}
	adapters := map[string]*lora.Adapter{}
	for _, a := range call.Adapters {
		if adapters[a.Name], err = lora.Open(fsys, a.File); err != nil {
			return fail(err)
		}
	}
	io, err := openIO(fsys)
	if err != nil {
		return fail(err)
	}
	defer io.Close()
	var res []Result
	for _, out := range slices.Sorted(maps.Keys(call.Runs)) {
		set, err := loraSet(call.Runs[out], adapters)
		if err != nil {
			return fail(fmt.Errorf("call.json run %s: %w", out, err))
		}
		modes := []string{"fused", "unfused"}
		if len(set.Adapters) == 0 {
			modes = []string{"base"}
		}
		for _, mode := range modes {
			d, err := r.loraOnce(ctx, fsys, io, set, mode == "fused", out)
			res = append(res, Result{Case: fmt.Sprintf("%s[%s][%s]", name, out, mode), MaxAbs: d, Tol: r.tolFor(TolTransformer, TolTransformerBF16Compute), Err: err})
		}
	}
	return res
}

// loraSet reads one run: a string ("no LoRA") means no adapters.
func loraSet(raw json.RawMessage, adapters map[string]*lora.Adapter) (lora.Set, error) {
	set := lora.Set{Scale: 1}
	var run loraRun
	if err := json.Unmarshal(raw, &run); err != nil {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return set, nil
		}
		return set, err
	}
	names, ws := run.Adapters, []float64(nil)
	if len(run.SetAdapters) > 0 {
		names, ws = run.SetAdapters, run.Weights
	}
	for i, n := range names {
		a, ok := adapters[n]
		if !ok {
			return set, fmt.Errorf("adapter %q is not in call.json's adapters", n)
		}
		w := 1.0
		if i < len(ws) {
			w = ws[i]
		}
		set.Adapters = append(set.Adapters, lora.Weighted{Adapter: a, Weight: w})
	}
	if run.Kwargs != nil && run.Kwargs.Scale != nil {
		set.Scale = *run.Kwargs.Scale
	}
	return set, nil
}

// loraOnce loads model.safetensors with the set fused or attached and
// compares one forward with output want.
func (r *Runner) loraOnce(ctx context.Context, fsys fs.FS, io files, set lora.Set, fuse bool, want string) (float64, error) {
	cfg, err := dit.ReadConfig(fsys, "config.json")
	if err != nil {
		return 0, err
	}
	wf, err := weights.Open(fsys, "model.safetensors")
	if err != nil {
		return 0, err
	}
	defer wf.Close()
	var src weights.Source = wf
	if fuse {
		if src, err = lora.Fuse(wf, set); err != nil {
			return 0, err
		}
	}
	w, err := dit.Load(cfg, src, "model.safetensors")
	if err != nil {
		return 0, err
	}
	if !fuse {
		if err := lora.Attach(w, set); err != nil {
			return 0, err
		}
	}
	m := dit.New(cfg, w, r.Backend)
	var in [4]*kernels.Tensor
	for i, n := range []string{"encoder_hidden_states", "encoder_attention_mask", "hidden_states", "timestep"} {
		if in[i], err = io.in.Tensor(n); err != nil {
			return 0, err
		}
	}
	cd, err := m.PrepareCond(ctx, in[0], in[1])
	if err != nil {
		return 0, err
	}
	out, err := m.Forward(ctx, in[2], in[3].F32(), nil, cd)
	if err != nil {
		return 0, err
	}
	host := kernels.MustNew(kernels.Float32, out.Shape()...)
	if err := r.Backend.Copy(host, out); err != nil {
		return 0, err
	}
	return maxAbs(host, io.out, want)
}
