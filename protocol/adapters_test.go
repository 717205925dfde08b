package protocol

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

// TestValidateAdapters: the LoRA, image-to-image and NVlabs fields of a
// job (issues 17 and 19) are bounded, and each refusal names its field.
func TestValidateAdapters(t *testing.T) {
	many := make([]LoRA, MaxLoRAs+1)
	for i := range many {
		many[i] = LoRA{URL: "/srv/l.safetensors"}
	}
	cases := []struct {
		name  string
		edit  func(*JobSpec)
		field string // "" = valid
	}{
		{"lora path", func(s *JobSpec) { s.LoRAs = []LoRA{{URL: "/srv/l.safetensors", Weight: 0.5}} }, ""},
		{"lora hf repo", func(s *JobSpec) { s.LoRAs = []LoRA{{URL: "hf://o/r"}}; s.LoRAScale = 0.8 }, ""},
		{"lora hf file", func(s *JobSpec) { s.LoRAs = []LoRA{{URL: "hf://o/r@v1/a/b.safetensors"}} }, ""},
		{"lora s3", func(s *JobSpec) { s.LoRAs = []LoRA{{URL: "s3://bucket/l.safetensors"}} }, ""},
		{"too many loras", func(s *JobSpec) { s.LoRAs = many }, "loras"},
		{"lora relative", func(s *JobSpec) { s.LoRAs = []LoRA{{URL: "l.safetensors"}} }, "loras[0].url"},
		{"lora dotdot", func(s *JobSpec) { s.LoRAs = []LoRA{{URL: "/srv/../etc/x"}} }, "loras[0].url"},
		{"lora hf dotdot", func(s *JobSpec) { s.LoRAs = []LoRA{{URL: "hf://o/r/../x"}} }, "loras[0].url"},
		{"lora http", func(s *JobSpec) { s.LoRAs = []LoRA{{URL: "http://x/l"}} }, "loras[0].url"},
		{"lora empty", func(s *JobSpec) { s.LoRAs = []LoRA{{}} }, "loras[0].url"},
		{"lora NaN weight", func(s *JobSpec) { s.LoRAs = []LoRA{{URL: "/l", Weight: math.NaN()}} }, "loras[0].weight"},
		{"lora huge weight", func(s *JobSpec) { s.LoRAs = []LoRA{{URL: "/l", Weight: 1e9}} }, "loras[0].weight"},
		{"scale without loras", func(s *JobSpec) { s.LoRAScale = 2 }, "lora_scale"},
		{"inf scale", func(s *JobSpec) { s.LoRAs = []LoRA{{URL: "/l"}}; s.LoRAScale = math.Inf(1) }, "lora_scale"},
		{"init image", func(s *JobSpec) { s.Model, s.InitImage, s.Strength = "sana-sprint-600m", "file:///srv/in.png", 0.5 }, ""},
		{"init image hf", func(s *JobSpec) { s.Model, s.InitImage = "org/sprint", "hf://o/r/in.png" }, ""},
		{"init image on a non-Sprint preset", func(s *JobSpec) { s.InitImage = "/srv/in.png" }, "init_image"},
		{"init image hf repo only", func(s *JobSpec) { s.InitImage = "hf://o/r" }, "init_image"},
		{"init image relative", func(s *JobSpec) { s.InitImage = "in.png" }, "init_image"},
		{"strength over 1", func(s *JobSpec) { s.Model, s.InitImage, s.Strength = "org/x", "/in.png", 1.5 }, "strength"},
		{"strength NaN", func(s *JobSpec) { s.Model, s.InitImage, s.Strength = "org/x", "/in.png", math.NaN() }, "strength"},
		{"strength without image", func(s *JobSpec) { s.Strength = 0.5 }, "strength"},
		{"nvlabs", func(s *JobSpec) {
			s.Model, s.Config, s.Checkpoint = "", "/srv/c.yaml", "hf://Efficient-Large-Model/Sana_1600M_1024px/checkpoints/x.pth"
		}, ""},
		{"nvlabs with model", func(s *JobSpec) { s.Config, s.Checkpoint = "/c.yaml", "/x.pth" }, "model"},
		{"config alone", func(s *JobSpec) { s.Model, s.Config = "", "/c.yaml" }, "checkpoint"},
		{"checkpoint alone", func(s *JobSpec) { s.Checkpoint = "/x.pth" }, "config"},
		{"checkpoint on s3", func(s *JobSpec) { s.Model, s.Config, s.Checkpoint = "", "/c.yaml", "s3://bucket/x.pth" }, "checkpoint"},
		{"init column", func(s *JobSpec) {
			s.Model, s.InitImageColumn, s.Prompts = "org/sprint", "image_url", PromptSource{URL: "/p.csv", Rows: 2}
		}, ""},
		{"init column inline", func(s *JobSpec) { s.Model, s.InitImageColumn = "org/sprint", "image_url" }, "init_image_column"},
		{"init column reserved", func(s *JobSpec) {
			s.Model, s.InitImageColumn, s.Prompts = "org/sprint", "prompt", PromptSource{URL: "/p.csv", Rows: 2}
		}, "init_image_column"},
		{"init column and image", func(s *JobSpec) {
			s.Model, s.InitImage, s.InitImageColumn, s.Prompts = "org/sprint", "/i.png", "u", PromptSource{URL: "/p.csv", Rows: 2}
		}, "init_image_column"},
		{"init column bad name", func(s *JobSpec) {
			s.Model, s.InitImageColumn, s.Prompts = "org/sprint", "a b", PromptSource{URL: "/p.csv", Rows: 2}
		}, "init_image_column"},
		{"init column strength", func(s *JobSpec) {
			s.Model, s.InitImageColumn, s.Strength, s.Prompts = "org/sprint", "u", 0.3, PromptSource{URL: "/p.csv", Rows: 2}
		}, ""},
		{"parallel with lora", func(s *JobSpec) { s.Parallel = "tp:2"; s.LoRAs = []LoRA{{URL: "/l"}} }, "parallel"},
		{"long url", func(s *JobSpec) { s.InitImage = "/" + strings.Repeat("a", MaxModelURLSize) }, "init_image"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validSpec()
			c.edit(&s)
			err := s.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var v ValidationError
			if !errors.As(err, &v) || v[0].Field != c.field {
				t.Fatalf("err = %v, want a field error on %s", err, c.field)
			}
		})
	}
}

// TestAdapterFieldsOmitEmpty: a spec without the new fields encodes as
// before, so coordinators and nodes of the previous release read it.
func TestAdapterFieldsOmitEmpty(t *testing.T) {
	js, err := json.Marshal(validSpec())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"loras", "lora_scale", "init_image", "init_image_column", "strength", "config", "checkpoint"} {
		if strings.Contains(string(js), `"`+k+`"`) {
			t.Errorf("%s in %s", k, js)
		}
	}
}

// TestCheckSpecModelFiles: LoRA files, the init image and NVlabs files
// are read locations; hf:// URLs are not checked against the allow-list.
func TestCheckSpecModelFiles(t *testing.T) {
	a := Access{Read: MustAllowList("/srv/in"), Write: MustAllowList("/tmp")}
	s := validSpec()
	s.LoRAs = []LoRA{{URL: "/srv/in/a.safetensors"}, {URL: "/etc/b.safetensors"}, {URL: "hf://o/r"}}
	s.InitImage = "file:///proc/self/environ"
	err := a.CheckSpec(s)
	var v ValidationError
	if !errors.As(err, &v) || len(v) != 2 || v[0].Field != "loras[1].url" || v[1].Field != "init_image" {
		t.Fatalf("CheckSpec = %v, want loras[1].url and init_image refused", err)
	}
}

// TestVariantKey: plain jobs keep the model name; a LoRA set (weights and
// scale included) or NVlabs files name a distinct variant of that model.
func TestVariantKey(t *testing.T) {
	s := validSpec()
	if s.VariantKey() != TinyPreset {
		t.Fatalf("plain key %q", s.VariantKey())
	}
	s.LoRAs = []LoRA{{URL: "/a"}}
	k1 := s.VariantKey()
	s.LoRAs[0].Weight = 1 // explicit 1 = unset
	if s.VariantKey() != k1 || VariantBase(k1) != TinyPreset || k1 == TinyPreset {
		t.Fatalf("keys %q %q", k1, s.VariantKey())
	}
	s.LoRAs[0].Weight = 0.5
	if s.VariantKey() == k1 {
		t.Fatal("weight not in the key")
	}
}
