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
}

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
