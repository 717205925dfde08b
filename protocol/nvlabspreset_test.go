package protocol

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestNVlabsPresets: the NVlabs presets name a built-in config and the .pth
// of Efficient-Large-Model/<Name>/checkpoints/<Name>.pth (the guide's
// pattern), and a job naming one is expanded to, validated as, keyed as and
// allow-list checked as the job naming that config and checkpoint.
func TestNVlabsPresets(t *testing.T) {
	want := map[string]string{
		"sana-600m-512-nvlabs":   "Sana_600M_512px",
		"sana-600m-1024-nvlabs":  "Sana_600M_1024px",
		"sana-1600m-512-nvlabs":  "Sana_1600M_512px",
		"sana-1600m-1024-nvlabs": "Sana_1600M_1024px",
	}
	for name, ck := range want {
		p, err := LookupPreset(name)
		if err != nil {
			t.Fatal(err)
		}
		if !p.NVlabs() || p.Repo != "Efficient-Large-Model/"+ck || !strings.HasPrefix(p.Config, NVlabsConfigPrefix+"configs/sana_config/") ||
			p.Checkpoint != "hf://Efficient-Large-Model/"+ck+"/checkpoints/"+ck+".pth" || p.Steps != 20 || p.Guidance != 4.5 {
			t.Errorf("%s: %+v", name, p)
		}
		byName := validSpec()
		byName.Model = name
		explicit := validSpec()
		explicit.Model, explicit.Config, explicit.Checkpoint = "", p.Config, p.Checkpoint
		got := byName.ExpandPreset()
		if !reflect.DeepEqual(got, explicit) {
			t.Errorf("%s: expanded %+v, want %+v", name, got, explicit)
		}
		if err := byName.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if err := explicit.Validate(); err != nil {
			t.Errorf("%s explicit: %v", name, err)
		}
		if k := got.VariantKey(); k != explicit.VariantKey() || VariantBase(k) != "nvlabs" {
			t.Errorf("%s: variant key %s", name, k)
		}
		if fields, _ := got.ModelFiles(); len(fields) != 0 {
			t.Errorf("%s: model files %v (the config is built in, the checkpoint on the Hub)", name, fields)
		}
		a := Access{Read: MustAllowList("/srv/in"), Write: MustAllowList("/tmp")}
		if err := a.CheckSpec(got); err != nil {
			t.Errorf("%s: CheckSpec %v", name, err)
		}
		if err := a.CheckModelFile("config", p.Config); err != nil {
			t.Errorf("%s: CheckModelFile %v", name, err)
		}
	}
	for _, p := range Presets() {
		if p.NVlabs() && want[p.Name] == "" {
			t.Errorf("untested NVlabs preset %s", p.Name)
		}
	}
	// Diffusers presets and NVlabs jobs are left as they are.
	for _, s := range []JobSpec{validSpec(), {Model: "sana-1600m-1024"}, {Config: "/a.yaml", Checkpoint: "/b.pth"}} {
		if got := s.ExpandPreset(); !reflect.DeepEqual(got, s) {
			t.Errorf("%+v expanded to %+v", s, got)
		}
	}
}

// TestNVlabsPresetRefusals: a preset with its own config or checkpoint, a
// built-in reference that no preset has, and one given for a field other
// than config are refused, naming the field.
func TestNVlabsPresetRefusals(t *testing.T) {
	const cfg = "builtin:configs/sana_config/1024ms/Sana_1600M_img1024.yaml"
	cases := []struct {
		name  string
		edit  func(*JobSpec)
		field string
		want  string
	}{
		{"preset and config", func(s *JobSpec) { s.Model, s.Config, s.Checkpoint = "sana-1600m-1024-nvlabs", "/a.yaml", "/b.pth" }, "model", "leave model out"},
		{"unknown built-in", func(s *JobSpec) { s.Model, s.Config, s.Checkpoint = "", "builtin:configs/x.yaml", "/b.pth" }, "config", "not a built-in config"},
		{"built-in checkpoint", func(s *JobSpec) { s.Model, s.Config, s.Checkpoint = "", cfg, cfg }, "checkpoint", ""},
	}
	for _, c := range cases {
		s := validSpec()
		c.edit(&s)
		var v ValidationError
		if err := s.Validate(); !errors.As(err, &v) || !hasField(v, c.field, c.want) {
			t.Errorf("%s: %v, want %s: %q", c.name, err, c.field, c.want)
		}
	}
	s := validSpec()
	s.Model, s.Config, s.Checkpoint = "", cfg, "/b.pth"
	if err := s.Validate(); err != nil {
		t.Errorf("built-in config with a node checkpoint: %v", err)
	}
}

func hasField(v ValidationError, field, want string) bool {
	for _, f := range v {
		if f.Field == field && strings.Contains(f.Problem, want) {
			return true
		}
	}
	return false
}
