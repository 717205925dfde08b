package lora

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/weights"
)

const caseDir = "../../testdata/golden/lora_sana"

// file builds a LoRA safetensors file: each module gets lora_A [r, in]
// and lora_B [out, r] (conv: with trailing 1×1).
type mod struct {
	name       string
	r, in, out int
	conv, noB  bool
}

func build(t testing.TB, mods []mod, md map[string]any) []byte {
	t.Helper()
	ts := map[string]*kernels.Tensor{}
	for _, m := range mods {
		a, b := []int{m.r, m.in}, []int{m.out, m.r}
		if m.conv {
			a, b = append(a, 1, 1), append(b, 1, 1)
		}
		ts["transformer."+m.name+".lora_A.weight"] = fill(a, 0.01)
		if !m.noB {
			ts["transformer."+m.name+".lora_B.weight"] = fill(b, 0.02)
		}
	}
	var meta map[string]string
	if md != nil {
		full := map[string]any{}
		for k, v := range md {
			full["transformer."+k] = v
		}
		js, _ := json.Marshal(full)
		meta = map[string]string{"format": "pt", MetadataKey: string(js)}
	}
	var buf bytes.Buffer
	if err := weights.Write(&buf, ts, meta); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func fill(shape []int, v float32) *kernels.Tensor {
	t := kernels.MustNew(kernels.Float32, shape...)
	for i := range t.F32() {
		t.F32()[i] = v * float32(i%7-3)
	}
	return t
}

func TestParseGoldenFiles(t *testing.T) {
	for _, c := range []struct {
		file        string
		layers      int
		scaling     float64
		convModules int
	}{
		{"lora/pytorch_lora_weights.safetensors", 20, 1.5, 4},
		{"lora_b/pytorch_lora_weights.safetensors", 6, 0.5, 2},
	} {
		a, err := Open(os.DirFS(caseDir), c.file)
		if err != nil {
			t.Fatal(err)
		}
		conv := 0
		for _, l := range a.Layers {
			if l.Scaling() != c.scaling || l.Rank != 4 {
				t.Errorf("%s %s: rank %d scaling %g, want 4 and %g", c.file, l.Module, l.Rank, l.Scaling(), c.scaling)
			}
			if l.Conv {
				conv++
			}
		}
		if len(a.Layers) != c.layers || conv != c.convModules {
			t.Errorf("%s: %d layers (%d conv), want %d (%d)", c.file, len(a.Layers), conv, c.layers, c.convModules)
		}
	}
}

func TestMetadata(t *testing.T) {
	q := mod{name: "transformer_blocks.0.attn1.to_q", r: 4, in: 32, out: 32}
	k := mod{name: "transformer_blocks.0.attn1.to_k", r: 2, in: 32, out: 32}
	for _, c := range []struct {
		name   string
		mods   []mod
		md     map[string]any
		want   map[string]float64 // module → scaling
		errHas string
	}{
		{"no metadata: alpha = most common rank", []mod{q, q2(q, "transformer_blocks.1.attn1.to_q"), k}, nil,
			map[string]float64{q.name: 1, k.name: 2}, ""},
		{"alpha/r", []mod{q}, map[string]any{"r": 4, "lora_alpha": 8}, map[string]float64{q.name: 2}, ""},
		{"rslora", []mod{q}, map[string]any{"r": 4, "lora_alpha": 8, "use_rslora": true}, map[string]float64{q.name: 4}, ""},
		{"rank and alpha patterns", []mod{q, k}, map[string]any{"r": 4, "lora_alpha": 4,
			"rank_pattern": map[string]int{"to_k": 2}, "alpha_pattern": map[string]float64{"attn1.to_k": 1}},
			map[string]float64{q.name: 1, k.name: 0.5}, ""},
		{"rank differs from the metadata", []mod{k}, map[string]any{"r": 4, "lora_alpha": 4}, nil,
			"transformer_blocks.0.attn1.to_k: lora_A has rank 2 (shape [2 32]) but the metadata says r = 4"},
		{"dora", []mod{q}, map[string]any{"r": 4, "lora_alpha": 4, "use_dora": true}, nil, "use_dora"},
		{"no alpha", []mod{q}, map[string]any{"r": 4}, nil, "no transformer.r or transformer.lora_alpha"},
		{"bad pattern", []mod{q}, map[string]any{"r": 4, "lora_alpha": 4, "rank_pattern": map[string]int{"(": 2}}, nil, "rank_pattern"},
		{"missing lora_B", []mod{{name: "x", r: 2, in: 4, out: 4, noB: true}}, nil, nil, "module x has no lora_B.weight"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := Parse("f.safetensors", build(t, c.mods, c.md))
			if c.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), c.errHas) || !strings.Contains(err.Error(), "f.safetensors") {
					t.Fatalf("err %v, want one naming the file and containing %q", err, c.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for m, s := range c.want {
				if got := a.Layers[m].Scaling(); math.Abs(got-s) > 1e-12 {
					t.Errorf("%s: scaling %g, want %g", m, got, s)
				}
			}
		})
	}
}

func q2(m mod, name string) mod { m.name = name; return m }

func TestBadKeys(t *testing.T) {
	ts := map[string]*kernels.Tensor{"transformer.x.lora_down.weight": fill([]int{2, 2}, 1)}
	var buf bytes.Buffer
	weights.Write(&buf, ts, nil)
	if _, err := Parse("k.safetensors", buf.Bytes()); err == nil || !strings.Contains(err.Error(), `"transformer.x.lora_down.weight"`) {
		t.Errorf("kohya key: %v", err)
	}
	if _, err := Parse("e.safetensors", []byte("nope")); err == nil {
		t.Error("garbage parsed")
	}
}

// TestTargetErrors: fused and unfused both reject modules the model does
// not have and shapes that do not fit, naming file, key and shapes.
func TestTargetErrors(t *testing.T) {
	D := 32
	for _, c := range []struct {
		name   string
		m      mod
		errHas []string
	}{
		{"unknown module", mod{name: "transformer_blocks.0.attn1.to_z", r: 2, in: D, out: D}, []string{"transformer_blocks.0.attn1.to_z"}},
		{"out mismatch", mod{name: "transformer_blocks.0.attn1.to_q", r: 2, in: D, out: D + 1}, []string{"[33 2]", "[32 32]"}},
		{"in mismatch", mod{name: "transformer_blocks.0.ff.conv_inverted", r: 2, in: D + 2, out: 160, conv: true}, []string{"[2 34]"}},
		{"depthwise conv", mod{name: "transformer_blocks.0.ff.conv_depth", r: 2, in: 1, out: 160, conv: true}, []string{"conv_depth"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := Parse("bad.safetensors", build(t, []mod{c.m}, map[string]any{"r": 2, "lora_alpha": 2}))
			if err != nil {
				t.Fatal(err)
			}
			set := Set{Adapters: []Weighted{{a, 1}}, Scale: 1}
			wf, err := weights.Open(os.DirFS(caseDir), "model.safetensors")
			if err != nil {
				t.Fatal(err)
			}
			defer wf.Close()
			_, errF := Fuse(wf, set)
			cfg, err := dit.ReadConfig(os.DirFS(caseDir), "config.json")
			if err != nil {
				t.Fatal(err)
			}
			w, err := dit.Load(cfg, wf, "model.safetensors")
			if err != nil {
				t.Fatal(err)
			}
			errU := Attach(w, set)
			for mode, err := range map[string]error{"fused": errF, "unfused": errU} {
				if err == nil {
					t.Fatalf("%s: no error", mode)
				}
				for _, s := range append(c.errHas, "bad.safetensors", c.m.name) {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("%s: %v does not name %q", mode, err, s)
					}
				}
			}
		})
	}
}

func TestSetErrors(t *testing.T) {
	a, err := Parse("a", build(t, []mod{{name: "m", r: 1, in: 2, out: 2}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []Set{
		{Adapters: []Weighted{{a, math.NaN()}}, Scale: 1},
		{Adapters: []Weighted{{a, 1}}, Scale: math.Inf(1)},
		{Adapters: []Weighted{{nil, 1}}, Scale: 1},
	} {
		if _, err := s.Terms(); err == nil {
			t.Errorf("%+v: no error", s)
		}
	}
}

// FuzzParse: any bytes either fail cleanly or give layers whose A and B
// fit together and whose scaling is finite.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"lora/pytorch_lora_weights.safetensors", "lora_b/pytorch_lora_weights.safetensors"} {
		if b, err := os.ReadFile(caseDir + "/" + p); err == nil {
			f.Add(b)
		}
	}
	f.Add(build(f, []mod{{name: "a.b", r: 2, in: 3, out: 4, conv: true}}, map[string]any{"r": 2, "lora_alpha": 3, "rank_pattern": map[string]int{"b": 2}}))
	f.Add(build(f, []mod{{name: "a", r: 1, in: 1, out: 1}}, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Parse("fuzz", b)
		if err != nil {
			return
		}
		for m, l := range a.Layers {
			if l.A.Rank() != 2 || l.B.Rank() != 2 || l.A.Dim(0) != l.Rank || l.B.Dim(1) != l.Rank || l.Module != m {
				t.Fatalf("%s: A %v B %v rank %d", m, l.A.Shape(), l.B.Shape(), l.Rank)
			}
			if s := l.Scaling(); math.IsNaN(s) {
				t.Fatalf("%s: scaling NaN", m)
			}
		}
	})
}

// TestNewSetAndModules: NewSet starts at scale 1, and every module the
// transformer exposes to unfused LoRA is one Fuse can find by name.
func TestNewSetAndModules(t *testing.T) {
	if s := NewSet(); s.Scale != 1 {
		t.Errorf("NewSet scale %g", s.Scale)
	}
	cfg, err := dit.ReadConfig(os.DirFS(caseDir), "config.json")
	if err != nil {
		t.Fatal(err)
	}
	wf, err := weights.Open(os.DirFS(caseDir), "model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer wf.Close()
	w, err := dit.Load(cfg, wf, "model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	mods := w.LoRAModules()
	if len(mods) != 7+2*10 {
		t.Errorf("%d modules: %v", len(mods), mods)
	}
	for _, m := range mods {
		if _, ok := wf.Info(m + ".weight"); !ok {
			t.Errorf("module %s has no %s.weight in the checkpoint", m, m)
		}
	}
}

// TestUnfusedRefusesSharding: a tensor-parallel shard would drop the
// unfused terms, so dit.Shard refuses them.
func TestUnfusedRefusesSharding(t *testing.T) {
	a, err := Open(os.DirFS(caseDir), "lora_b/pytorch_lora_weights.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := dit.ReadConfig(os.DirFS(caseDir), "config.json")
	wf, err := weights.Open(os.DirFS(caseDir), "model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer wf.Close()
	w, err := dit.Load(cfg, wf, "model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dit.Shard(cfg, w, 0, 2); err != nil {
		t.Fatalf("plain weights: %v", err)
	}
	if err := Attach(w, NewSet(Weighted{a, 1})); err != nil {
		t.Fatal(err)
	}
	if _, err := dit.Shard(cfg, w, 0, 2); err == nil || !strings.Contains(err.Error(), "unfused LoRA") {
		t.Errorf("shard with unfused LoRA: %v", err)
	}
}
