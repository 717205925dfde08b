package main

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/protocol"
)

const (
	nvPreset = "sana-1600m-1024-nvlabs"
	nvConfig = "builtin:configs/sana_config/1024ms/Sana_1600M_img1024.yaml"
	nvCkpt   = "hf://Efficient-Large-Model/Sana_1600M_1024px/checkpoints/Sana_1600M_1024px.pth"
)

// TestGenerateNVlabsPreset: `generate --model NVLABS-PRESET` is
// `generate --config <its built-in YAML> --checkpoint <its hf:// .pth>`:
// the same flags after expansion and, offline, the same run up to the
// checkpoint fetch; with its own --config it is refused.
func TestGenerateNVlabsPreset(t *testing.T) {
	t.Setenv("SANAFARM_CACHE", t.TempDir())
	t.Setenv("HF_HOME", t.TempDir())
	t.Setenv("HF_HUB_OFFLINE", "1")
	got, err := expandNVlabsPreset(generateFlags{model: nvPreset})
	want := generateFlags{model: sana.TinyPreset, nvConfig: nvConfig, nvCheckpoint: nvCkpt}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("expanded %+v (%v), want %+v", got, err, want)
	}
	if f, err := expandNVlabsPreset(generateFlags{model: "sana-1600m-1024"}); err != nil || f.nvConfig != "" {
		t.Errorf("diffusers preset expanded: %+v %v", f, err)
	}

	out := filepath.Join(t.TempDir(), "x.png")
	gen := func(args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"generate", "-p", "a fox", "-q", "--dest", out}, args...), &stdout, &stderr)
		return code, stderr.String()
	}
	code, byPreset := gen("--model", nvPreset)
	code2, byFlags := gen("--config", nvConfig, "--checkpoint", nvCkpt)
	if code == 0 || !strings.Contains(byPreset, "fetching "+nvCkpt) || byPreset != byFlags || code2 != code {
		t.Errorf("--model %s: exit %d %q; explicit flags: exit %d %q", nvPreset, code, byPreset, code2, byFlags)
	}
	if code, stderr := gen("--model", nvPreset, "--config", "x.yaml", "--checkpoint", "y.pth"); code == 0 ||
		!strings.Contains(stderr, "is an NVlabs preset") {
		t.Errorf("preset with --config: exit %d %q", code, stderr)
	}
	if code, stderr := gen("--config", "builtin:configs/nope.yaml", "--checkpoint", nvCkpt); code == 0 ||
		!strings.Contains(stderr, "not a built-in NVlabs config") {
		t.Errorf("unknown built-in: exit %d %q", code, stderr)
	}
}

// TestSubmitNVlabsPreset: submit --model NVLABS-PRESET sends the spec that
// --config/--checkpoint with the preset's references send.
func TestSubmitNVlabsPreset(t *testing.T) {
	byPreset := protocol.JobSpec{Model: nvPreset}
	if err := (&submitInputs{}).apply(&byPreset); err != nil {
		t.Fatal(err)
	}
	var byFlags protocol.JobSpec
	if err := (&submitInputs{config: nvConfig, checkpoint: nvCkpt}).apply(&byFlags); err != nil {
		t.Fatal(err)
	}
	want := protocol.JobSpec{Config: nvConfig, Checkpoint: nvCkpt}
	if !reflect.DeepEqual(byPreset, want) || !reflect.DeepEqual(byFlags, want) {
		t.Errorf("by preset %+v, by flags %+v, want %+v", byPreset, byFlags, want)
	}
}

// TestModelsListNVlabs: models list shows the NVlabs presets with the repo
// of their .pth; models pull refuses them (there is no diffusers folder).
func TestModelsListNVlabs(t *testing.T) {
	t.Setenv("SANAFARM_CACHE", t.TempDir())
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	code, stdout, stderr := sanafarm("models", "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, name := range []string{"sana-600m-512-nvlabs", "sana-600m-1024-nvlabs", "sana-1600m-512-nvlabs", nvPreset} {
		if !strings.Contains(stdout, name+" ") {
			t.Errorf("list lacks %s:\n%s", name, stdout)
		}
	}
	if !strings.Contains(stdout, "Efficient-Large-Model/Sana_1600M_1024px ") {
		t.Errorf("list lacks the NVlabs repo:\n%s", stdout)
	}
	if code, _, stderr := sanafarm("models", "pull", nvPreset); code == 0 || !strings.Contains(stderr, "is an NVlabs preset") {
		t.Errorf("pull: exit %d %q", code, stderr)
	}
}
