package scheduler

import (
	"strconv"
	"strings"

	"github.com/sanafarm/sanafarm/protocol"
)

const gib = 1 << 30

// Estimated GPU memory of a whole pipeline (Gemma-2 text encoder, DiT,
// DC-AE, activations at the native size) by DiT size class. Rough on
// purpose: it only keeps a job off a GPU that clearly cannot hold it.
const (
	memUnknown = 12 * gib // a repo id that names no size
	mem600M    = 6 * gib
	mem1600M   = 12 * gib
	mem4800M   = 24 * gib
	mem2K      = 4 * gib  // extra for 2048² latents and decode
	mem4K      = 12 * gib // extra for 4096² latents (decode is tiled)
)

// ModelMemory estimates the GPU memory (bytes) a job's model needs: 0 for the
// built-in sana-tiny, otherwise the size class of the DiT (600M ≈ 6 GiB,
// 1600M ≈ 12 GiB, 4800M ≈ 24 GiB, larger ≈ 5 GiB per billion parameters)
// plus extra for 2K and 4K resolutions. Preset names are resolved to their
// repo ids; a repo id is parsed for its size ("600M", "1600M", "0.6B",
// "1.6B", "4.8B") and resolution ("1024px", "2Kpx", "4Kpx"); a name
// without a size is assumed to need 12 GiB.
func ModelMemory(model string) uint64 {
	if model == protocol.TinyPreset {
		return 0
	}
	if p, err := protocol.LookupPreset(model); err == nil && p.Repo != "" {
		model = p.Repo
	}
	params, res := parseModelName(model)
	need := uint64(memUnknown)
	switch {
	case params <= 0:
	case params < 1000:
		need = mem600M
	case params < 2500:
		need = mem1600M
	case params < 6000:
		need = mem4800M
	default:
		need = uint64(params*5/1000+0.999) * gib
	}
	switch {
	case res >= 4096:
		need += mem4K
	case res >= 2048:
		need += mem2K
	}
	return need
}

// parseModelName finds the parameter count (millions) and the resolution
// (pixels) in a model name such as "org/Sana_1600M_2Kpx_BF16_diffusers";
// zero where it names none.
func parseModelName(name string) (paramsM float64, res int) {
	tokens := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return r == '/' || r == '_' || r == '-' || r == ' '
	})
	for _, t := range tokens {
		if px, ok := strings.CutSuffix(t, "px"); ok {
			res = max(res, parseResolution(px))
			continue
		}
		if t == "2k" || t == "4k" {
			res = max(res, parseResolution(t))
			continue
		}
		if paramsM == 0 {
			paramsM = parseParams(t)
		}
	}
	return paramsM, res
}

// parseParams reads "600m" (millions) or "1.6b" (billions).
func parseParams(t string) float64 {
	scale := 0.0
	switch {
	case strings.HasSuffix(t, "m"):
		scale = 1
	case strings.HasSuffix(t, "b"):
		scale = 1000
	default:
		return 0
	}
	v, err := strconv.ParseFloat(t[:len(t)-1], 64)
	if err != nil || !(v > 0 && v < 1e6) { // also rejects "inf", "nan"
		return 0
	}
	return v * scale
}

// maxNamedSide bounds a side read from a model name: the name comes from
// a client, and "99999999999999999kpx" must not wrap to a small number.
const maxNamedSide = 1 << 20

// parseResolution reads "1024" or "2k" (0 for none, or past maxNamedSide).
func parseResolution(t string) int {
	mult := 1
	if k, ok := strings.CutSuffix(t, "k"); ok {
		t, mult = k, 1024
	}
	v, err := strconv.Atoi(t)
	if err != nil || v <= 0 || v > maxNamedSide/mult {
		return 0
	}
	return v * mult
}
