package protocol

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

// TestValidateGuidance: the PAG and ControlNet fields of a job (issue 17)
// are bounded, combinations the model refuses are refused at submit, and
// each refusal names its field and value.
func TestValidateGuidance(t *testing.T) {
	file := PromptSource{URL: "/p.jsonl", Rows: 2}
	many := make([]int, MaxPAGLayers+1)
	for i := range many {
		many[i] = i
	}
	cn := func(s *JobSpec) { s.ControlNet, s.ControlImage = "/srv/cn", "/srv/c.png" }
	cases := []struct {
		name  string
		edit  func(*JobSpec)
		field string // "" = valid
		value string // part of the reported value
	}{
		{"pag", func(s *JobSpec) { s.PAGScale, s.PAGAdaptiveScale, s.PAGLayers = 3, 0.5, []int{7, 8} }, "", ""},
		{"pag default layers", func(s *JobSpec) { s.PAGScale = 2 }, "", ""},
		{"pag negative", func(s *JobSpec) { s.PAGScale = -1 }, "pag_scale", "-1"},
		{"pag NaN", func(s *JobSpec) { s.PAGScale = math.NaN() }, "pag_scale", "NaN"},
		{"pag inf", func(s *JobSpec) { s.PAGScale = math.Inf(1) }, "pag_scale", "Inf"},
		{"pag huge", func(s *JobSpec) { s.PAGScale = 1e6 }, "pag_scale", "1e+06"},
		{"adaptive negative", func(s *JobSpec) { s.PAGScale, s.PAGAdaptiveScale = 3, -0.1 }, "pag_adaptive_scale", "-0.1"},
		{"adaptive without scale", func(s *JobSpec) { s.PAGAdaptiveScale = 0.2 }, "pag_adaptive_scale", "0.2"},
		{"layers without scale", func(s *JobSpec) { s.PAGLayers = []int{1} }, "pag_layers", "[1]"},
		{"layer negative", func(s *JobSpec) { s.PAGScale, s.PAGLayers = 3, []int{0, -2} }, "pag_layers[1]", "-2"},
		{"layer huge", func(s *JobSpec) { s.PAGScale, s.PAGLayers = 3, []int{MaxPAGLayer + 1} }, "pag_layers[0]", "1024"},
		{"layer twice", func(s *JobSpec) { s.PAGScale, s.PAGLayers = 3, []int{4, 4} }, "pag_layers[1]", "4"},
		{"too many layers", func(s *JobSpec) { s.PAGScale, s.PAGLayers = 3, many }, "pag_layers", "65"},
		{"pag on sprint", func(s *JobSpec) { s.Model, s.PAGScale = "sana-sprint-600m", 3 }, "pag_scale", "3"},
		{"pag with parallel", func(s *JobSpec) { s.PAGScale, s.Parallel = 3, "cfg:2" }, "parallel", "cfg:2"},
		{"pag nvlabs", func(s *JobSpec) { s.Model, s.Config, s.Checkpoint, s.PAGScale = "", "/c.yaml", "/x.pth", 3 }, "", ""},
		{"controlnet", cn, "", ""},
		{"controlnet hf", func(s *JobSpec) { s.ControlNet, s.ControlImage = "hf://o/cn@v1", "hf://o/r/c.png" }, "", ""},
		{"controlnet s3 image", func(s *JobSpec) { s.ControlNet, s.ControlImage = "file:///srv/cn", "s3://bucket/c.png" }, "", ""},
		{"controlnet scale", func(s *JobSpec) { cn(s); s.ControlNetScale = 0.5 }, "", ""},
		{"controlnet column", func(s *JobSpec) { s.ControlNet, s.ControlImageColumn, s.Prompts = "/srv/cn", "canny", file }, "", ""},
		{"controlnet hf file", func(s *JobSpec) { s.ControlNet, s.ControlImage = "hf://o/cn/config.json", "/c.png" }, "controlnet", "hf://o/cn/config.json"},
		{"controlnet s3", func(s *JobSpec) { s.ControlNet, s.ControlImage = "s3://b/cn", "/c.png" }, "controlnet", "s3://b/cn"},
		{"controlnet relative", func(s *JobSpec) { s.ControlNet, s.ControlImage = "cn", "/c.png" }, "controlnet", "cn"},
		{"controlnet without image", func(s *JobSpec) { s.ControlNet = "/srv/cn" }, "controlnet", "/srv/cn"},
		{"image without controlnet", func(s *JobSpec) { s.ControlImage = "/c.png" }, "control_image", "/c.png"},
		{"column without controlnet", func(s *JobSpec) { s.ControlImageColumn, s.Prompts = "canny", file }, "control_image_column", "canny"},
		{"image hf repo only", func(s *JobSpec) { cn(s); s.ControlImage = "hf://o/r" }, "control_image", "hf://o/r"},
		{"image and column", func(s *JobSpec) { cn(s); s.ControlImageColumn, s.Prompts = "canny", file }, "control_image_column", "canny"},
		{"column inline prompts", func(s *JobSpec) { s.ControlNet, s.ControlImageColumn = "/srv/cn", "canny" }, "control_image_column", "canny"},
		{"column reserved", func(s *JobSpec) { s.ControlNet, s.ControlImageColumn, s.Prompts = "/srv/cn", "seed", file }, "control_image_column", "seed"},
		{"column long", func(s *JobSpec) {
			s.ControlNet, s.ControlImageColumn, s.Prompts = "/srv/cn", strings.Repeat("c", 65), file
		}, "control_image_column", "65 bytes"},
		{"scale negative", func(s *JobSpec) { cn(s); s.ControlNetScale = -1 }, "controlnet_scale", "-1"},
		{"scale huge", func(s *JobSpec) { cn(s); s.ControlNetScale = 11 }, "controlnet_scale", "11"},
		{"scale NaN", func(s *JobSpec) { cn(s); s.ControlNetScale = math.NaN() }, "controlnet_scale", "NaN"},
		{"scale without controlnet", func(s *JobSpec) { s.ControlNetScale = 0.5 }, "controlnet_scale", "0.5"},
		{"controlnet on sprint", func(s *JobSpec) { cn(s); s.Model = "sana-sprint-600m" }, "controlnet", "/srv/cn"},
		{"controlnet with pag", func(s *JobSpec) { cn(s); s.PAGScale = 3 }, "pag_scale", "3"},
		{"controlnet img2img", func(s *JobSpec) { cn(s); s.Model, s.InitImage = "org/x", "/i.png" }, "controlnet", "/srv/cn"},
		{"controlnet nvlabs", func(s *JobSpec) { cn(s); s.Model, s.Config, s.Checkpoint = "", "/c.yaml", "/x.pth" }, "controlnet", "/srv/cn"},
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
			if !errors.As(err, &v) {
				t.Fatalf("err = %v, want a field error on %s", err, c.field)
			}
			for _, fe := range v {
				if fe.Field == c.field && strings.Contains(fe.Value, c.value) {
					return
				}
			}
			t.Fatalf("err = %v, want a field error on %s with value %q", err, c.field, c.value)
		})
	}
}

// TestGuidanceFieldsOmitEmpty: a spec without the new fields encodes as
// before, needs no new node feature and keeps its variant key.
func TestGuidanceFieldsOmitEmpty(t *testing.T) {
	s := validSpec()
	js, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"pag_scale", "pag_adaptive_scale", "pag_layers", "controlnet", "control_image", "control_image_column", "controlnet_scale"} {
		if strings.Contains(string(js), `"`+k+`"`) {
			t.Errorf("%s in %s", k, js)
		}
	}
	if s.NeedsFeature() != "" || s.VariantKey() != s.Model {
		t.Errorf("plain spec needs %q, key %q", s.NeedsFeature(), s.VariantKey())
	}
}

// TestGuidanceFeatureAndKey: PAG and ControlNet jobs go only to nodes
// announcing FeatureGuidance; a ControlNet (loaded with the model) names
// a variant, PAG (per request) does not; the ControlNet and a job-wide
// control image are read locations checked against the allow-list.
func TestGuidanceFeatureAndKey(t *testing.T) {
	s := validSpec()
	s.PAGScale = 3
	if s.NeedsFeature() != FeatureGuidance || s.VariantKey() != s.Model {
		t.Errorf("PAG job needs %q, key %q", s.NeedsFeature(), s.VariantKey())
	}
	s.PAGScale, s.ControlNet, s.ControlImage = 0, "/srv/cn", "/etc/c.png"
	k := s.VariantKey()
	if s.NeedsFeature() != FeatureGuidance || VariantBase(k) != s.Model || k == s.Model {
		t.Errorf("ControlNet job needs %q, key %q", s.NeedsFeature(), k)
	}
	if s.ControlNet = "/srv/cn2"; s.VariantKey() == k {
		t.Error("another ControlNet has the same variant key")
	}
	a := Access{Read: MustAllowList("/srv"), Write: MustAllowList("/tmp")}
	var v ValidationError
	if err := a.CheckSpec(s); !errors.As(err, &v) || len(v) != 1 || v[0].Field != "control_image" {
		t.Fatalf("CheckSpec = %v, want control_image refused", err)
	}
	s.ControlNet = "/home/cn"
	if err := a.CheckSpec(s); !errors.As(err, &v) || len(v) != 2 || v[0].Field != "controlnet" {
		t.Fatalf("CheckSpec = %v, want controlnet and control_image refused", err)
	}
}
