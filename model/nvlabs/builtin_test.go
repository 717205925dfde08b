package nvlabs_test

import (
	"os"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/model/nvlabs"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestBuiltinConfigs: each embedded NVlabs YAML parses to the transformer of
// the diffusers repo of the same model (docs/sana.md §5: layers, heads,
// cross heads, sample_size, no PE, no qk-norm), the Gemma-2 text encoder
// with diffusers' default CHI, the DC-AE 1.0 VAE and flow shift 3, and is
// the config of exactly one NVlabs preset, whose diffusers twin
// (the name without -nvlabs) has the same size and defaults.
func TestBuiltinConfigs(t *testing.T) {
	type dims struct{ layers, heads, crossHeads, crossDim, sample int }
	want := map[string]dims{
		"builtin:configs/sana_config/512ms/Sana_600M_img512.yaml":    {28, 36, 16, 72, 16},
		"builtin:configs/sana_config/1024ms/Sana_600M_img1024.yaml":  {28, 36, 16, 72, 32},
		"builtin:configs/sana_config/512ms/Sana_1600M_img512.yaml":   {20, 70, 20, 112, 16},
		"builtin:configs/sana_config/1024ms/Sana_1600M_img1024.yaml": {20, 70, 20, 112, 32},
	}
	if got := nvlabs.BuiltinConfigs(); len(got) != len(want) {
		t.Fatalf("built-in configs %v, want %d", got, len(want))
	}
	presets := map[string]protocol.Preset{}
	for _, p := range protocol.Presets() {
		if p.NVlabs() {
			if _, dup := presets[p.Config]; dup {
				t.Errorf("config %s used by two presets", p.Config)
			}
			presets[p.Config] = p
		}
	}
	for ref, d := range want {
		b, err := nvlabs.Builtin(ref)
		if err != nil {
			t.Fatal(err)
		}
		c, err := nvlabs.Parse(ref, b)
		if err != nil {
			t.Fatal(err)
		}
		tr := c.Transformer
		if tr.NumLayers != d.layers || tr.NumAttentionHeads != d.heads || tr.AttentionHeadDim != 32 ||
			tr.NumCrossAttnHeads != d.crossHeads || tr.CrossAttnHeadDim != d.crossDim || tr.CrossAttentionDim != 32*d.heads ||
			tr.SampleSize != d.sample || tr.InterpolationScale != nil || tr.QKNorm != nil || tr.CaptionChannels != 2304 || tr.InChannels != 32 {
			t.Errorf("%s: transformer %+v, want %+v", ref, tr, d)
		}
		if c.TextEncoder.Repo != "google/gemma-2-2b-it" || c.TextEncoder.MaxLength != 300 || len(c.TextEncoder.CHI) != 8 ||
			!strings.HasPrefix(c.TextEncoder.CHIPrompt(), "Given a user prompt, generate an 'Enhanced prompt'") ||
			!strings.HasSuffix(c.TextEncoder.CHIPrompt(), "\nUser Prompt: ") {
			t.Errorf("%s: text encoder %+v", ref, c.TextEncoder)
		}
		if c.VAE.Repo != "mit-han-lab/dc-ae-f32c32-sana-1.0-diffusers" || c.VAE.ScaleFactor != 0.41407 || c.FlowShift != 3 || c.Sampler != "dpm" {
			t.Errorf("%s: vae %+v, shift %v, sampler %s", ref, c.VAE, c.FlowShift, c.Sampler)
		}
		p, ok := presets[ref]
		if !ok {
			t.Errorf("%s: no preset uses it", ref)
			continue
		}
		twin, err := protocol.LookupPreset(strings.TrimSuffix(p.Name, "-nvlabs"))
		if err != nil || twin.NVlabs() || twin.Size != p.Size || c.ImageSize != p.Size || twin.Steps != p.Steps ||
			twin.Guidance != p.Guidance || twin.Shift != c.FlowShift || !strings.HasPrefix(twin.Repo, p.Repo+"_") {
			t.Errorf("%s: preset %+v, diffusers twin %+v (%v), image_size %d", ref, p, twin, err, c.ImageSize)
		}
	}
	if len(presets) != len(want) {
		t.Errorf("%d NVlabs presets, want %d", len(presets), len(want))
	}
}

// TestBuiltinFile: an embedded config is written once under
// $SANAFARM_CACHE with NVlabs' file name and its exact bytes; an unknown
// reference is refused, listing the built-in ones.
func TestBuiltinFile(t *testing.T) {
	t.Setenv("SANAFARM_CACHE", t.TempDir())
	const ref = "builtin:configs/sana_config/1024ms/Sana_1600M_img1024.yaml"
	p, err := nvlabs.BuiltinFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := nvlabs.Builtin(ref)
	got, err := os.ReadFile(p)
	if err != nil || string(got) != string(b) || !strings.HasSuffix(p, "/Sana_1600M_img1024.yaml") {
		t.Errorf("%s: %v, %d bytes", p, err, len(got))
	}
	if c, err := nvlabs.ReadFile(p); err != nil || c.Model != "SanaMS_1600M_P1_D20" {
		t.Errorf("ReadFile: %+v %v", c.Model, err)
	}
	if again, err := nvlabs.BuiltinFile(ref); err != nil || again != p {
		t.Errorf("second write: %s %v", again, err)
	}
	for _, bad := range []string{"builtin:configs/nope.yaml", "builtin:../go.mod", "configs/sana_config/1024ms/Sana_1600M_img1024.yaml"} {
		if _, err := nvlabs.BuiltinFile(bad); err == nil || !strings.Contains(err.Error(), "not a built-in NVlabs config") ||
			!strings.Contains(err.Error(), ref) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
