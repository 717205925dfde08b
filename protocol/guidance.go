package protocol

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Limits of a job's PAG and ControlNet fields (docs/pag.md,
// docs/controlnet.md). Whether each PAG layer exists is checked where the
// model is known: on the node, when the pipeline is loaded.
const (
	MaxPAGScale     = 100 // pag_scale and pag_adaptive_scale
	MaxPAGLayers    = 64  // entries of pag_layers
	MaxPAGLayer     = 1023
	MaxControlScale = 10 // controlnet_scale
)

// FeatureGuidance: the node runs JobSpec.PAGScale, PAGAdaptiveScale,
// PAGLayers, ControlNet, ControlImage, ControlImageColumn and
// ControlNetScale (and everything FeatureJobInputs names).
const FeatureGuidance = "pag-controlnet"

// UsesPAG reports whether the job asks for perturbed-attention guidance.
func (s JobSpec) UsesPAG() bool { return s.PAGScale != 0 }

// Controlled reports whether the job is conditioned by a ControlNet.
func (s JobSpec) Controlled() bool {
	return s.ControlNet != "" || s.ControlImage != "" || s.ControlImageColumn != ""
}

// validateGuidance checks the PAG and ControlNet fields and refuses the
// combinations the model cannot run (model/sana: PAG with a ControlNet,
// either with a Sprint model or image-to-image).
func (s JobSpec) validateGuidance(add addFunc) {
	s.validatePAG(add)
	s.validateControl(add)
	if s.UsesPAG() && s.ControlNet != "" {
		add("pag_scale", formatFloat(s.PAGScale), "PAG and a ControlNet together are not supported (diffusers has no such pipeline)")
	}
	if !s.UsesPAG() && !s.Controlled() {
		return
	}
	field, v := "pag_scale", formatFloat(s.PAGScale)
	if !s.UsesPAG() {
		field, v = "controlnet", textSummary(redactURL(s.ControlNet))
	}
	if p, err := LookupPreset(s.Model); err == nil && p.Sprint {
		add(field, v, fmt.Sprintf("model %s is a Sprint model; PAG and ControlNet need a standard Sana model", s.Model))
	}
	if s.ImageToImage() {
		add(field, v, "not supported with init_image or init_image_column")
	}
	if s.Parallel != "" {
		add("parallel", s.Parallel, "not supported yet with PAG or a ControlNet")
	}
}

func (s JobSpec) validatePAG(add addFunc) {
	for _, f := range []struct {
		name string
		v    float64
	}{{"pag_scale", s.PAGScale}, {"pag_adaptive_scale", s.PAGAdaptiveScale}} {
		if math.IsNaN(f.v) || f.v < 0 || f.v > MaxPAGScale {
			add(f.name, formatFloat(f.v), fmt.Sprintf("want a finite number in 0..%d", MaxPAGScale))
		}
	}
	if s.PAGScale == 0 && (s.PAGAdaptiveScale != 0 || len(s.PAGLayers) > 0) {
		field, v := "pag_adaptive_scale", formatFloat(s.PAGAdaptiveScale)
		if s.PAGAdaptiveScale == 0 {
			field, v = "pag_layers", formatInts(s.PAGLayers)
		}
		add(field, v, "set without pag_scale")
	}
	if len(s.PAGLayers) > MaxPAGLayers {
		add("pag_layers", strconv.Itoa(len(s.PAGLayers))+" layers", fmt.Sprintf("at most %d layers", MaxPAGLayers))
		return
	}
	seen := map[int]bool{}
	for i, l := range s.PAGLayers {
		switch {
		case l < 0 || l > MaxPAGLayer:
			add(fmt.Sprintf("pag_layers[%d]", i), strconv.Itoa(l), fmt.Sprintf("want a transformer block index in 0..%d (and below the model's block count)", MaxPAGLayer))
		case seen[l]:
			add(fmt.Sprintf("pag_layers[%d]", i), strconv.Itoa(l), "listed twice")
		}
		seen[l] = true
	}
}

func (s JobSpec) validateControl(add addFunc) {
	if s.ControlNet != "" {
		s.validateControlNetURL(add)
	}
	if s.ControlImage != "" {
		if err := checkModelURL(s.ControlImage, true, true); err != nil {
			add("control_image", textSummary(redactURL(s.ControlImage)), err.Error())
		}
	}
	s.validateColumn(add, "control_image_column", s.ControlImageColumn, "control_image", s.ControlImage)
	if c := s.ControlImageColumn; c != "" && c == s.InitImageColumn {
		add("control_image_column", c, "is also init_image_column")
	}
	switch {
	case s.ControlNet != "" && s.ControlImage == "" && s.ControlImageColumn == "":
		add("controlnet", textSummary(redactURL(s.ControlNet)), "needs control_image or control_image_column")
	case s.ControlNet == "" && (s.ControlImage != "" || s.ControlImageColumn != ""):
		field, v := "control_image", textSummary(redactURL(s.ControlImage))
		if s.ControlImage == "" {
			field, v = "control_image_column", s.ControlImageColumn
		}
		add(field, v, "set without controlnet")
	case s.ControlNet != "" && s.Config != "":
		add("controlnet", textSummary(redactURL(s.ControlNet)), "works with model pipelines, not with config/checkpoint")
	}
	if sc := s.ControlNetScale; math.IsNaN(sc) || sc < 0 || sc > MaxControlScale {
		add("controlnet_scale", formatFloat(sc), fmt.Sprintf("want a finite number in 0..%d (0 = 1)", MaxControlScale))
	} else if sc != 0 && s.ControlNet == "" {
		add("controlnet_scale", formatFloat(sc), "set without controlnet")
	}
}

// validateControlNetURL accepts a folder (node path or file:// URL) or
// hf://OWNER/REPO[@REVISION], whose root holds the ControlNet (as
// `sanafarm generate --controlnet` takes it).
func (s JobSpec) validateControlNetURL(add addFunc) {
	v := textSummary(redactURL(s.ControlNet))
	if err := checkModelURL(s.ControlNet, false, false); err != nil {
		add("controlnet", v, err.Error())
		return
	}
	if HubURL(s.ControlNet) && strings.Count(s.ControlNet[len("hf://"):], "/") != 1 {
		add("controlnet", v, "want hf://OWNER/REPO[@REVISION] (the repo's root holds the ControlNet)")
	}
}

// validateColumn checks a per-row image column (init_image_column,
// control_image_column): a bounded name, not one with another meaning,
// not together with the job-wide field, and only with a prompt file.
func (s JobSpec) validateColumn(add addFunc, field, c, whole, wholeValue string) {
	switch {
	case c == "":
	case !reColumn.MatchString(c):
		add(field, textSummary(c), "want a column name: 1-64 letters, digits, _ . - starting with a letter or _")
	case c == "prompt" || c == "negative_prompt" || c == "seed" || c == "id":
		add(field, c, "names a column with another meaning; want an extra column")
	case wholeValue != "":
		add(field, c, fmt.Sprintf("give %s or %s, not both", whole, field))
	case s.Prompts.URL == "":
		add(field, c, "needs a prompt file (prompts.url) with that column; inline prompts have no columns")
	}
}

// EffectiveControlNetScale is ControlNetScale, or 1 when unset.
func (s JobSpec) EffectiveControlNetScale() float64 {
	if s.ControlNetScale == 0 {
		return 1
	}
	return s.ControlNetScale
}

func formatInts(v []int) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.Itoa(x)
	}
	return "[" + strings.Join(parts, ",") + "]"
}
