package dit

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sanafarm/sanafarm/model/weights"
)

func goldenConfig(t testing.TB) []byte {
	b, err := os.ReadFile("../../testdata/golden/sana_transformer/config.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConfigBounds: a hostile config's counts are refused, naming the key
// and value, before anything multiplies or loops over them.
func TestConfigBounds(t *testing.T) {
	cases := []struct{ from, to, want string }{
		{`"num_layers": 2`, `"num_layers": 1099511627776`, "num_layers = 1099511627776 (want 0 to 1024)"},
		{`"num_layers": 2`, `"num_layers": -1`, "num_layers = -1"},
		{`"num_attention_heads": 2`, `"num_attention_heads": 4611686018427387904`, "num_attention_heads = 4611686018427387904"},
		{`"attention_head_dim": 16`, `"attention_head_dim": 8192`, "attention_head_dim = 8192"},
		{`"caption_channels": 48`, `"caption_channels": 1000000000`, "caption_channels = 1000000000"},
		{`"in_channels": 8`, `"in_channels": 1000000000`, "in_channels = 1000000000"},
		{`"out_channels": 8`, `"out_channels": -8`, "out_channels = -8"},
		{`"mlp_ratio": 2.5`, `"mlp_ratio": 1e300`, "mlp_ratio = 1e+300"},
		{`"mlp_ratio": 2.5`, `"mlp_ratio": -1`, "mlp_ratio = -1"},
		{`"sample_size": 8`, `"sample_size": 1000000`, "sample_size = 1000000"},
		{`"num_attention_heads": 2`, `"num_attention_heads": 1024, "attention_head_dim": 4096, "x": 0`, "num_attention_heads×attention_head_dim = 4194304"},
	}
	g := string(goldenConfig(t))
	for _, tc := range cases {
		data := strings.Replace(g, tc.from, tc.to, 1)
		_, err := ReadConfig(fstest.MapFS{"config.json": {Data: []byte(data)}}, "config.json")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: want error containing %q, got %v", tc.to, tc.want, err)
		}
	}
}

// FuzzReadConfig: a transformer/config.json from any repo never panics
// ReadConfig, and an accepted one has the bounded, consistent sizes Load
// and the forward pass rely on.
func FuzzReadConfig(f *testing.F) {
	g := goldenConfig(f)
	f.Add(g)
	for _, edit := range [][2]string{
		{`"num_layers": 2`, `"num_layers": 1099511627776`},
		{`"mlp_ratio": 2.5`, `"mlp_ratio": 1e300`},
		{`"num_attention_heads": 2`, `"num_attention_heads": 4611686018427387904`},
		{`"qk_norm": null`, `"qk_norm": "rms_norm_across_heads"`},
		{`"interpolation_scale": null`, `"interpolation_scale": Infinity`},
	} {
		f.Add([]byte(strings.Replace(string(g), edit[0], edit[1], 1)))
	}
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ReadConfig(fstest.MapFS{"config.json": {Data: data}}, "config.json")
		if err != nil {
			return
		}
		checkAccepted(t, c)
	})
}

func checkAccepted(t *testing.T, c Config) {
	t.Helper()
	w := weights.MaxWidth
	switch {
	case c.NumLayers < 0 || c.NumLayers > weights.MaxLayers:
		t.Fatalf("accepted %d layers", c.NumLayers)
	case c.Dim() < 1 || c.Dim() > w || c.CrossDim() != c.Dim() || c.CrossAttentionDim != c.Dim():
		t.Fatalf("accepted width %d, cross %d/%d", c.Dim(), c.CrossDim(), c.CrossAttentionDim)
	case c.Hidden() < 1 || c.Hidden() > w:
		t.Fatalf("accepted mlp width %d", c.Hidden())
	case c.InChannels < 1 || c.InChannels > w || c.Out() < 1 || c.Out() > w || c.CaptionChannels < 1 || c.CaptionChannels > w:
		t.Fatalf("accepted channels in %d out %d caption %d", c.InChannels, c.Out(), c.CaptionChannels)
	case c.InterpolationScale != nil && !(*c.InterpolationScale > 0 && c.SampleSize > 0):
		t.Fatalf("accepted interpolation scale %v at sample size %d", *c.InterpolationScale, c.SampleSize)
	}
}
