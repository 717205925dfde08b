// Package lora loads LoRA adapters in the diffusers/peft safetensors format
// (what `save_lora_weights` and train_dreambooth_lora_sana.py write) and
// applies them to a Sana transformer, either fused into the weights at
// load time or unfused, added to each targeted layer's output per forward
// (docs/lora.md).
package lora

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/weights"
)

// MetadataKey is the safetensors header entry holding the peft LoraConfig
// as JSON, every key prefixed by the component ("transformer.r", …).
const MetadataKey = "lora_adapter_metadata"

// maxRank bounds r so a corrupt header cannot ask for huge products.
const maxRank = 4096

// maxModules bounds the targeted modules of one adapter (a Sana
// transformer block has 10 LoRA targets) and maxPatterns the entries of
// each of rank_pattern and alpha_pattern: adapters come from jobs, and
// every module is matched against every pattern, so an unbounded header
// of a few megabytes could keep a node busy for hours (docs/lora.md).
const (
	maxModules  = 2048
	maxPatterns = 1024
)

// Layer is one targeted module's low-rank update: y += s·B(A(x)).
type Layer struct {
	Module string          // module path, e.g. transformer_blocks.0.attn1.to_q
	A, B   *kernels.Tensor // F32 [r, in] and [out, r] (1×1 conv kernels flattened)
	Conv   bool            // stored as 1×1 conv kernels [r, in, 1, 1] / [out, r, 1, 1]
	Rank   int
	Alpha  float64
	RSLoRA bool // scaling alpha/√r instead of alpha/r
}

// Scaling is peft's per-adapter scaling before set_adapters weights and
// the lora scale: alpha/r (alpha/√r with use_rslora).
func (l *Layer) Scaling() float64 {
	if l.RSLoRA {
		return l.Alpha / math.Sqrt(float64(l.Rank))
	}
	return l.Alpha / float64(l.Rank)
}

// Adapter is one LoRA file.
type Adapter struct {
	Source string            // the file or URL, for errors and provenance
	SHA256 string            // hex digest of the file's bytes
	Layers map[string]*Layer // by module path
}

// Modules returns the targeted module paths, sorted.
func (a *Adapter) Modules() []string {
	out := make([]string, 0, len(a.Layers))
	for m := range a.Layers {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// Open reads a LoRA safetensors file from fsys.
func Open(fsys fs.FS, name string) (*Adapter, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("lora: %w", err)
	}
	return Parse(name, b)
}

// peftConfig is the part of the LoraConfig metadata that changes values.
type peftConfig struct {
	R            *int               `json:"r"`
	Alpha        *float64           `json:"lora_alpha"`
	RSLoRA       bool               `json:"use_rslora"`
	DoRA         bool               `json:"use_dora"`
	LoRABias     bool               `json:"lora_bias"`
	RankPattern  map[string]int     `json:"rank_pattern"`
	AlphaPattern map[string]float64 `json:"alpha_pattern"`
}

// Parse reads a LoRA safetensors file held in memory; name is used in
// errors. Keys are `[transformer.|base_model.model.]<module>.lora_A.weight`
// and `.lora_B.weight`; anything else is rejected by name.
func Parse(name string, b []byte) (*Adapter, error) {
	f, err := weights.OpenBytes(name, b)
	if err != nil {
		return nil, fmt.Errorf("lora: %w", err)
	}
	cfg, err := parseMetadata(name, f.Header.Metadata)
	if err != nil {
		return nil, err
	}
	pairs := map[string][2]string{}
	for _, k := range f.Header.Names() {
		mod, ab, ok := splitKey(k)
		if !ok {
			return nil, fmt.Errorf("lora %s: key %q is not <module>.lora_A.weight or <module>.lora_B.weight (DoRA, LoRA bias and kohya keys are not supported)", name, k)
		}
		p := pairs[mod]
		p[ab] = k
		pairs[mod] = p
	}
	switch {
	case len(pairs) == 0:
		return nil, fmt.Errorf("lora %s: no lora_A/lora_B tensors", name)
	case len(pairs) > maxModules:
		return nil, fmt.Errorf("lora %s: %d modules, at most %d", name, len(pairs), maxModules)
	}
	sum := sha256.Sum256(b)
	a := &Adapter{Source: name, SHA256: hex.EncodeToString(sum[:]), Layers: map[string]*Layer{}}
	for mod, p := range pairs {
		l, err := readLayer(f, name, mod, p)
		if err != nil {
			return nil, err
		}
		a.Layers[mod] = l
	}
	return a, applyConfig(a, cfg)
}

func splitKey(k string) (module string, ab int, ok bool) {
	for _, p := range []string{"transformer.", "base_model.model."} {
		if strings.HasPrefix(k, p) {
			k = k[len(p):]
			break
		}
	}
	switch {
	case strings.HasSuffix(k, ".lora_A.weight"):
		return strings.TrimSuffix(k, ".lora_A.weight"), 0, k != ".lora_A.weight"
	case strings.HasSuffix(k, ".lora_B.weight"):
		return strings.TrimSuffix(k, ".lora_B.weight"), 1, k != ".lora_B.weight"
	}
	return "", 0, false
}

func readLayer(f *weights.File, name, mod string, p [2]string) (*Layer, error) {
	for i, k := range p {
		if k == "" {
			return nil, fmt.Errorf("lora %s: module %s has no %s tensor", name, mod, [2]string{"lora_A.weight", "lora_B.weight"}[i])
		}
	}
	ia, _ := f.Info(p[0])
	ib, _ := f.Info(p[1])
	l := &Layer{Module: mod}
	switch {
	case len(ia.Shape) == 2 && len(ib.Shape) == 2:
	case len(ia.Shape) == 4 && len(ib.Shape) == 4 && ia.Shape[2]*ia.Shape[3] == 1 && ib.Shape[2]*ib.Shape[3] == 1:
		l.Conv = true
	default:
		return nil, fmt.Errorf("lora %s: %s %v and %s %v: want [r, in] and [out, r] (or 1×1 conv kernels)", name, p[0], ia.Shape, p[1], ib.Shape)
	}
	l.Rank = ia.Shape[0]
	if l.Rank < 1 || l.Rank > maxRank || ib.Shape[1] != l.Rank || ia.Shape[1] < 1 || ib.Shape[0] < 1 {
		return nil, fmt.Errorf("lora %s: %s %v and %s %v: ranks differ or are outside 1…%d", name, p[0], ia.Shape, p[1], ib.Shape, maxRank)
	}
	var err error
	if l.A, err = readF32(f, p[0], l.Rank, ia.Shape[1]); err != nil {
		return nil, fmt.Errorf("lora %s: %w", name, err)
	}
	if l.B, err = readF32(f, p[1], ib.Shape[0], l.Rank); err != nil {
		return nil, fmt.Errorf("lora %s: %w", name, err)
	}
	return l, nil
}

// readF32 reads a float tensor of any stored float dtype as F32 [rows, cols].
func readF32(f *weights.File, key string, rows, cols int) (*kernels.Tensor, error) {
	v, _, err := f.Float64s(key)
	if err != nil {
		return nil, err
	}
	if len(v) != rows*cols {
		return nil, fmt.Errorf("%s: %d values, want %d×%d", key, len(v), rows, cols)
	}
	out := make([]float32, len(v))
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%s: non-finite value at %d", key, i)
		}
		out[i] = float32(x)
	}
	return kernels.FromF32(out, rows, cols)
}

// parseMetadata reads the transformer's LoraConfig from the header
// metadata; without it (a bare state dict) diffusers uses lora_alpha = r.
func parseMetadata(name string, md map[string]string) (*peftConfig, error) {
	js, ok := md[MetadataKey]
	if !ok {
		return nil, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &raw); err != nil {
		return nil, fmt.Errorf("lora %s: metadata %s: %w", name, MetadataKey, err)
	}
	stripped := map[string]json.RawMessage{}
	for k, v := range raw {
		if rest, ok := strings.CutPrefix(k, "transformer."); ok {
			stripped[rest] = v
		}
	}
	b, _ := json.Marshal(stripped)
	var c peftConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("lora %s: metadata %s: %w", name, MetadataKey, err)
	}
	switch {
	case c.DoRA:
		return nil, fmt.Errorf("lora %s: metadata transformer.use_dora = true: DoRA is not supported", name)
	case c.LoRABias:
		return nil, fmt.Errorf("lora %s: metadata transformer.lora_bias = true: LoRA biases are not supported", name)
	case c.R == nil || c.Alpha == nil:
		return nil, fmt.Errorf("lora %s: metadata %s has no transformer.r or transformer.lora_alpha", name, MetadataKey)
	case *c.R < 1 || *c.R > maxRank || math.IsNaN(*c.Alpha) || math.IsInf(*c.Alpha, 0):
		return nil, fmt.Errorf("lora %s: metadata transformer.r = %d, transformer.lora_alpha = %g: want r in 1…%d and a finite alpha", name, *c.R, *c.Alpha, maxRank)
	case len(c.RankPattern) > maxPatterns || len(c.AlphaPattern) > maxPatterns:
		return nil, fmt.Errorf("lora %s: metadata transformer.rank_pattern has %d entries and transformer.alpha_pattern %d, at most %d each",
			name, len(c.RankPattern), len(c.AlphaPattern), maxPatterns)
	}
	return &c, nil
}

// applyConfig sets every layer's alpha (and checks its rank) from the
// metadata, honouring peft's rank_pattern/alpha_pattern; without metadata
// alpha is the most common rank, as diffusers infers it.
func applyConfig(a *Adapter, c *peftConfig) error {
	if c == nil {
		common := mostCommonRank(a)
		for _, l := range a.Layers {
			l.Alpha = float64(common)
		}
		return nil
	}
	ranks, err := compilePatterns(keys(c.RankPattern))
	if err != nil {
		return fmt.Errorf("lora %s: metadata transformer.rank_pattern: %w", a.Source, err)
	}
	alphas, err := compilePatterns(keys(c.AlphaPattern))
	if err != nil {
		return fmt.Errorf("lora %s: metadata transformer.alpha_pattern: %w", a.Source, err)
	}
	for _, mod := range a.Modules() {
		l := a.Layers[mod]
		r, alpha := *c.R, *c.Alpha
		if k := ranks.key(mod); k != "" {
			r = c.RankPattern[k]
		}
		if k := alphas.key(mod); k != "" {
			alpha = c.AlphaPattern[k]
		}
		if r != l.Rank {
			return fmt.Errorf("lora %s: module %s: lora_A has rank %d (shape %v) but the metadata says r = %d", a.Source, mod, l.Rank, l.A.Shape(), r)
		}
		l.Alpha, l.RSLoRA = alpha, c.RSLoRA
	}
	return nil
}

func mostCommonRank(a *Adapter) int {
	count := map[int]int{}
	best := 0
	for _, mod := range a.Modules() {
		r := a.Layers[mod].Rank
		count[r]++
		if count[r] > count[best] {
			best = r
		}
	}
	return best
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// patterns are the keys of a rank_pattern or alpha_pattern, each
// compiled once (not once per module: see maxPatterns).
type patterns struct {
	keys  []string // sorted
	exact map[string]bool
	res   []*regexp.Regexp // res[i] matches keys[i]
}

// compilePatterns compiles peft's `(.*\.)?(k)$` for every key k.
func compilePatterns(keys []string) (*patterns, error) {
	p := &patterns{keys: keys, exact: make(map[string]bool, len(keys)), res: make([]*regexp.Regexp, len(keys))}
	for i, k := range keys {
		re, err := regexp.Compile(`^(.*\.)?(` + k + `)$`)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", k, err)
		}
		p.exact[k], p.res[i] = true, re
	}
	return p, nil
}

// key is peft's get_pattern_key: an exact module name first, else the
// first key k with re.match(`(.*\.)?(k)$`, module); "" if none.
func (p *patterns) key(module string) string {
	if p.exact[module] {
		return module
	}
	for i, re := range p.res {
		if re.MatchString(module) {
			return p.keys[i]
		}
	}
	return ""
}
