package lora

import (
	"fmt"
	"strings"
	"testing"
)

// TestParseBounds: an adapter with more modules, or more rank_pattern or
// alpha_pattern entries, than the bounds is refused by name (each module
// is matched against every pattern); at the bounds it parses.
func TestParseBounds(t *testing.T) {
	modules := func(n int) []mod {
		out := make([]mod, n)
		for i := range out {
			out[i] = mod{name: fmt.Sprintf("transformer_blocks.%d.attn1.to_q", i), r: 1, in: 1, out: 1}
		}
		return out
	}
	patterns := func(n int) map[string]float64 {
		out := map[string]float64{}
		for i := range n {
			out[fmt.Sprintf("other_%d", i)] = 1
		}
		return out
	}
	md := func(key string, n int) map[string]any {
		return map[string]any{"r": 1, "lora_alpha": 1, key: patterns(n)}
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string // "" = parses
	}{
		{"modules at the bound", build(t, modules(maxModules), nil), ""},
		{"too many modules", build(t, modules(maxModules+1), nil), fmt.Sprintf("%d modules, at most %d", maxModules+1, maxModules)},
		{"rank_pattern at the bound", build(t, modules(2), md("rank_pattern", maxPatterns)), ""},
		{"rank_pattern too long", build(t, modules(2), md("rank_pattern", maxPatterns+1)), "transformer.rank_pattern has 1025 entries"},
		{"alpha_pattern too long", build(t, modules(2), md("alpha_pattern", maxPatterns+1)), "transformer.alpha_pattern 1025"},
	} {
		_, err := Parse("big.safetensors", c.b)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "big.safetensors")):
			t.Errorf("%s: err = %v, want one naming the file and %q", c.name, err, c.want)
		}
	}
}

// TestTermsRefuseOverflow: a finite lora_alpha whose scaling overflows
// float64 (weight · alpha / r · scale) is an error naming the adapter and
// module, not infinite fused weights.
func TestTermsRefuseOverflow(t *testing.T) {
	a, err := Parse("huge.safetensors", build(t, []mod{{name: "m", r: 1, in: 2, out: 2}}, map[string]any{"r": 1, "lora_alpha": 1e308}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSet(Weighted{a, 1}).Terms(); err != nil {
		t.Fatalf("weight 1: %v", err)
	}
	_, err = NewSet(Weighted{a, 100}).Terms()
	if err == nil || !strings.Contains(err.Error(), "huge.safetensors") || !strings.Contains(err.Error(), "module m") {
		t.Errorf("weight 100: err = %v", err)
	}
}
