package scheduler

import (
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
)

func TestModelMemory(t *testing.T) {
	cases := []struct {
		model string
		gib   uint64
	}{
		{protocol.TinyPreset, 0},
		{"sana-600m-512", 6},
		{"sana-600m-1024", 6},
		{"sana-sprint-600m", 6},
		{"sana-1600m-512", 12},
		{"sana-1600m-1024", 12},
		{"sana-sprint-1600m", 12},
		{"sana1.5-1600m-1024", 12},
		{"sana-1600m-2k", 16},
		{"sana-1600m-4k", 24},
		{"sana1.5-4800m-1024", 24},
		{"sana-600m-512-nvlabs", 6},
		{"sana-600m-1024-nvlabs", 6},
		{"sana-1600m-512-nvlabs", 12},
		{"sana-1600m-1024-nvlabs", 12},
		// Repo ids, presets' and others.
		{"Efficient-Large-Model/Sana_600M_512px_diffusers", 6},
		{"Efficient-Large-Model/Sana_Sprint_0.6B_1024px_diffusers", 6},
		{"Efficient-Large-Model/SANA1.5_1.6B_1024px_diffusers", 12},
		{"Efficient-Large-Model/Sana_1600M_2Kpx_BF16_diffusers", 16},
		{"Efficient-Large-Model/Sana_1600M_4Kpx_BF16_diffusers", 24},
		{"Efficient-Large-Model/SANA1.5_4.8B_1024px_diffusers", 24},
		{"someone/Sana_4.8B_4Kpx_finetune", 36},
		{"someone/sana-12b-1024px", 60},
		{"someone/my-sana-finetune", 12},
		{"someone/my-sana-2Kpx", 16},
		{"someone/model-infm-nanb", 12},
		{"", 12},
		// A side past maxNamedSide counts as none (the multiply by 1024
		// once wrapped).
		{"someone/sana-600m-9007199254740993kpx", 6},
		{"someone/sana-600m-1048577px", 6},
		{"someone/sana-600m-1024kpx", 18},
	}
	for _, tc := range cases {
		if got := ModelMemory(tc.model); got != tc.gib*gib {
			t.Errorf("ModelMemory(%q) = %.1f GiB, want %d GiB", tc.model, float64(got)/gib, tc.gib)
		}
	}
	// Every preset is covered by the table above.
	seen := map[string]bool{}
	for _, tc := range cases {
		seen[tc.model] = true
	}
	for _, p := range protocol.Presets() {
		if !seen[p.Name] {
			t.Errorf("preset %s missing from the table", p.Name)
		}
	}
}

// FuzzModelMemory: any model name a client submits is sized without a
// panic, within what the size classes allow (the largest named DiT, 10^9
// million parameters at 5 GiB a billion, plus the 4K extra).
func FuzzModelMemory(f *testing.F) {
	for _, s := range []string{"someone/Sana_4.8B_4Kpx", "x/9007199254740993kpx", "a/1e5b_-1px", "sana-tiny", "a/nanm_infb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := ModelMemory(name)
		if got > uint64(5e6+1)*gib+mem4K {
			t.Fatalf("ModelMemory(%q) = %d GiB", name, got/gib)
		}
		_, res := parseModelName(name)
		if res < 0 || res > maxNamedSide {
			t.Fatalf("parseModelName(%q) resolution %d", name, res)
		}
	})
}
