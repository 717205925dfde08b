package protocol

import (
	"fmt"
	"sort"
	"strings"
)

// Preset is a named model: a diffusers pipeline repo with the settings the
// model card recommends (docs/sana.md §4).
type Preset struct {
	Name string
	// Repo is the Hugging Face repo id ("" for the built-in sana-tiny).
	Repo     string
	Revision string
	// Variant is the recommended weights variant ("fp16", "bf16" or "").
	Variant string
	// Size is the native resolution (the default width and height).
	Size     int
	Steps    int
	Guidance float64
	Sprint   bool
	// Shift is the flow shift of the shipped scheduler (informational; the
	// repo's scheduler_config.json is what Load uses).
	Shift float64
	Note  string
	// Config and Checkpoint are set for an NVlabs preset (docs/nvlabs.md):
	// the job runs as if it named this config (a "builtin:" reference to a
	// YAML embedded in sanafarm) and checkpoint (an hf:// URL of the .pth
	// in Repo); see JobSpec.ExpandPreset.
	Config     string
	Checkpoint string
}

// NVlabs reports whether the preset is an NVlabs config and checkpoint.
func (p Preset) NVlabs() bool { return p.Checkpoint != "" }

// TinyPreset is the name of the built-in offline model (deterministic
// random weights of the real architecture at toy size).
const TinyPreset = "sana-tiny"

// Presets returns every preset, sorted by name.
func Presets() []Preset {
	const org = "Efficient-Large-Model/"
	ps := []Preset{
		{Name: "sana-600m-512", Repo: org + "Sana_600M_512px_diffusers", Variant: "fp16", Size: 512, Steps: 20, Guidance: 4.5, Shift: 3},
		{Name: "sana-600m-1024", Repo: org + "Sana_600M_1024px_diffusers", Variant: "fp16", Size: 1024, Steps: 20, Guidance: 4.5, Shift: 3},
		{Name: "sana-1600m-512", Repo: org + "Sana_1600M_512px_diffusers", Variant: "fp16", Size: 512, Steps: 20, Guidance: 4.5, Shift: 3},
		{Name: "sana-1600m-1024", Repo: org + "Sana_1600M_1024px_BF16_diffusers", Variant: "bf16", Size: 1024, Steps: 20, Guidance: 4.5, Shift: 3},
		{Name: "sana-1600m-2k", Repo: org + "Sana_1600M_2Kpx_BF16_diffusers", Variant: "bf16", Size: 2048, Steps: 20, Guidance: 4.5, Shift: 3},
		{Name: "sana-1600m-4k", Repo: org + "Sana_1600M_4Kpx_BF16_diffusers", Variant: "bf16", Size: 4096, Steps: 20, Guidance: 5.0, Shift: 6,
			Note: "decode needs VAE tiling"},
		{Name: "sana1.5-1600m-1024", Repo: org + "SANA1.5_1.6B_1024px_diffusers", Variant: "bf16", Size: 1024, Steps: 20, Guidance: 4.5, Shift: 3},
		{Name: "sana1.5-4800m-1024", Repo: org + "SANA1.5_4.8B_1024px_diffusers", Variant: "bf16", Size: 1024, Steps: 20, Guidance: 4.5, Shift: 3},
		{Name: "sana-sprint-600m", Repo: org + "Sana_Sprint_0.6B_1024px_diffusers", Variant: "bf16", Size: 1024, Steps: 2, Guidance: 4.5, Sprint: true},
		{Name: "sana-sprint-1600m", Repo: org + "Sana_Sprint_1.6B_1024px_diffusers", Variant: "bf16", Size: 1024, Steps: 2, Guidance: 4.5, Sprint: true},
		nvlabsPreset("sana-600m-512-nvlabs", "Sana_600M_512px", "512ms/Sana_600M_img512.yaml", 512),
		nvlabsPreset("sana-600m-1024-nvlabs", "Sana_600M_1024px", "1024ms/Sana_600M_img1024.yaml", 1024),
		nvlabsPreset("sana-1600m-512-nvlabs", "Sana_1600M_512px", "512ms/Sana_1600M_img512.yaml", 512),
		nvlabsPreset("sana-1600m-1024-nvlabs", "Sana_1600M_1024px", "1024ms/Sana_1600M_img1024.yaml", 1024),
		{Name: TinyPreset, Size: 512, Steps: 20, Guidance: 4.5, Shift: 3,
			Note: "built-in random weights of the real architecture at toy size (offline demos and tests)"},
	}
	for i := range ps {
		if ps[i].Repo != "" {
			ps[i].Revision = "main"
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	return ps
}

// NVlabsConfigPrefix starts a config reference to a YAML embedded in
// sanafarm (model/nvlabs.BuiltinPrefix; docs/nvlabs.md).
const NVlabsConfigPrefix = "builtin:"

// nvlabsPreset is the original NVlabs release of a model: the .pth in
// Efficient-Large-Model/<name>/checkpoints/<name>.pth (the pattern of the
// guide's Sana_1600M_1024px) with our copy of NVlabs' YAML config.
func nvlabsPreset(preset, name, config string, size int) Preset {
	repo := "Efficient-Large-Model/" + name
	return Preset{Name: preset, Repo: repo, Size: size, Steps: 20, Guidance: 4.5, Shift: 3,
		Config:     NVlabsConfigPrefix + "configs/sana_config/" + config,
		Checkpoint: "hf://" + repo + "/checkpoints/" + name + ".pth",
		Note:       "NVlabs .pth checkpoint with a built-in NVlabs YAML config"}
}

// ExpandPreset returns the spec with an NVlabs preset in Model replaced by
// the preset's config and checkpoint (Model cleared), so that a job naming
// the preset is the same job as one naming them (docs/nvlabs.md). Any other
// spec, and one that also sets config or checkpoint, is returned as is
// (Validate reports the conflict).
func (s JobSpec) ExpandPreset() JobSpec {
	p, err := LookupPreset(s.Model)
	if err != nil || !p.NVlabs() || s.Config != "" || s.Checkpoint != "" {
		return s
	}
	s.Model, s.Config, s.Checkpoint = "", p.Config, p.Checkpoint
	return s
}

// LookupPreset finds a preset by name; the error lists the valid names.
func LookupPreset(name string) (Preset, error) {
	var names []string
	for _, p := range Presets() {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return Preset{}, fmt.Errorf("unknown model preset %q (valid: %s)", name, strings.Join(names, ", "))
}
