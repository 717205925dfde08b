package controlnet

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sanafarm/sanafarm/model/weights"
)

// TestReadConfigErrors: another class, a qk_norm or a guidance embedding
// (keys SanaControlNetModel does not have) are errors naming the key.
func TestReadConfigErrors(t *testing.T) {
	base := `"in_channels": 8, "num_attention_heads": 2, "attention_head_dim": 16, "num_layers": 1,
		"num_cross_attention_heads": 4, "cross_attention_head_dim": 8, "cross_attention_dim": 32, "caption_channels": 48,
		"mlp_ratio": 2.5, "norm_eps": 1e-6, "sample_size": 8, "patch_size": 1`
	for name, c := range map[string]struct{ js, want string }{
		"class":    {`{"_class_name": "SanaTransformer2DModel", ` + base + `}`, "_class_name"},
		"qk_norm":  {`{"_class_name": "SanaControlNetModel", "qk_norm": "rms_norm_across_heads", ` + base + `}`, "qk_norm"},
		"guidance": {`{"_class_name": "SanaControlNetModel", "guidance_embeds": true, ` + base + `}`, "guidance_embeds"},
	} {
		fsys := fstest.MapFS{"config.json": {Data: []byte(c.js)}}
		if _, err := ReadConfig(fsys, "config.json"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %s", name, err, c.want)
		}
	}
	fsys := fstest.MapFS{"config.json": {Data: []byte(`{"_class_name": "SanaControlNetModel", ` + base + `}`)}}
	cfg, err := ReadConfig(fsys, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	// Load reports the ControlNet's own missing tensors along with the trunk's.
	empty, err := weights.OpenBytes("empty", []byte("\x02\x00\x00\x00\x00\x00\x00\x00{}"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(cfg, empty, "empty"); err == nil || !strings.Contains(err.Error(), "patch_embed") {
		t.Errorf("loading nothing: %v", err)
	}
}
