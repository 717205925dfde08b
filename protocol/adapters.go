package protocol

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// LoRA is one adapter of a job (docs/lora.md): a safetensors file in the
// diffusers/peft layout and its set_adapters weight.
type LoRA struct {
	URL string `json:"url"`
	// Weight of the adapter (0 = 1, as an unweighted --lora).
	Weight float64 `json:"weight,omitempty"`
}

// EffectiveWeight is Weight, or 1 when unset.
func (l LoRA) EffectiveWeight() float64 {
	if l.Weight == 0 {
		return 1
	}
	return l.Weight
}

// Limits of a job's model inputs.
const (
	MaxLoRAs        = 8
	MaxLoRAWeight   = 100
	MaxModelURLSize = 1024 // bytes of a LoRA, init image, config or checkpoint URL
)

// reHubURL is hf://OWNER/REPO[@REV][/PATH]: the Hub's repo id characters,
// and a path without empty, . or .. elements (checked separately).
var reHubURL = regexp.MustCompile(`^hf://[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*(@[A-Za-z0-9._/-]+?)?(/[^?#\\]+)?$`)

// hubPartsOK applies the nodes' Hub client's rules (model/hub) to an
// hf:// URL without its scheme, so that a job passing submit does not
// fail on every node: no ".." or "--" in OWNER/REPO, a revision (up to
// the next slash) that is not empty, "." or "..", and a file path
// (after OWNER/REPO[@REVISION]/, as the client splits it) that is clean,
// relative and free of NUL bytes.
func hubPartsOK(rest string) bool {
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 2 {
		return false
	}
	repo, rev, hasRev := strings.Cut(parts[1], "@")
	if id := parts[0] + "/" + repo; strings.Contains(id, "..") || strings.Contains(id, "--") {
		return false
	}
	if hasRev && (rev == "" || rev == "." || rev == "..") {
		return false
	}
	if len(parts) == 3 {
		p := parts[2]
		return p != "." && fs.ValidPath(p) && !strings.ContainsAny(p, "\\\x00")
	}
	return true
}

// HubURL reports whether raw is an hf:// reference.
func HubURL(raw string) bool { return strings.HasPrefix(raw, "hf://") }

// checkModelURL accepts an hf:// URL (with a file path when needFile) or a
// location ParseLocation accepts (s3 only when s3OK).
func checkModelURL(raw string, needFile, s3OK bool) error {
	switch {
	case raw == "":
		return errors.New("empty URL")
	case len(raw) > MaxModelURLSize:
		return fmt.Errorf("longer than %d bytes", MaxModelURLSize)
	case HubURL(raw):
		if !reHubURL.MatchString(raw) || !hubPartsOK(raw[len("hf://"):]) {
			return errors.New("want hf://OWNER/REPO[@REVISION]/PATH")
		}
		if needFile && strings.Count(raw[len("hf://"):], "/") < 2 {
			return errors.New("an hf:// URL must name a file: hf://OWNER/REPO/PATH")
		}
		return nil
	}
	loc, err := ParseLocation(raw)
	if err != nil {
		return err
	}
	if loc.IsS3() && !s3OK {
		return errors.New("s3:// is not supported here (want a node path, file:// or hf:// URL)")
	}
	return nil
}

// CheckImageURL checks an input image location as the job-wide
// init_image and control_image are checked at submit: at most
// MaxModelURLSize bytes, an hf:// URL naming a file, a node path, file://
// or s3:// URL. Nodes check each per-row image column value with it
// before use (docs/controlnet.md), since the coordinator never sees rows.
// Errors do not echo raw; RedactURL gives a form of it that may be shown.
func CheckImageURL(raw string) error { return checkModelURL(raw, true, true) }

// RedactURL is raw with its credentials masked (userinfo, query) and
// summarized when long or not UTF-8: the form of an outside URL that
// errors and logs may show.
func RedactURL(raw string) string { return textSummary(redactURL(raw)) }

// validateAdapters checks the LoRA, image-to-image and NVlabs fields.
func (s JobSpec) validateAdapters(add addFunc) {
	if len(s.LoRAs) > MaxLoRAs {
		add("loras", strconv.Itoa(len(s.LoRAs)), fmt.Sprintf("at most %d LoRAs per job", MaxLoRAs))
	}
	for i, l := range s.LoRAs {
		if err := checkModelURL(l.URL, false, true); err != nil {
			add(fmt.Sprintf("loras[%d].url", i), textSummary(redactURL(l.URL)), err.Error())
		}
		if w := l.Weight; math.IsNaN(w) || math.IsInf(w, 0) || math.Abs(w) > MaxLoRAWeight {
			add(fmt.Sprintf("loras[%d].weight", i), formatFloat(w), fmt.Sprintf("want a finite number in -%d..%d (0 = 1)", MaxLoRAWeight, MaxLoRAWeight))
		}
	}
	if sc := s.LoRAScale; math.IsNaN(sc) || math.IsInf(sc, 0) || math.Abs(sc) > MaxLoRAWeight {
		add("lora_scale", formatFloat(sc), fmt.Sprintf("want a finite number in -%d..%d (0 = 1)", MaxLoRAWeight, MaxLoRAWeight))
	} else if sc != 0 && len(s.LoRAs) == 0 {
		add("lora_scale", formatFloat(sc), "set without loras")
	}
	if s.InitImage != "" {
		if err := checkModelURL(s.InitImage, true, true); err != nil {
			add("init_image", textSummary(redactURL(s.InitImage)), err.Error())
		}
	}
	s.validateInitColumn(add)
	if p, err := LookupPreset(s.Model); s.ImageToImage() && err == nil && !p.Sprint {
		field, v := "init_image", s.InitImage
		if v == "" {
			field, v = "init_image_column", s.InitImageColumn
		}
		add(field, textSummary(redactURL(v)), fmt.Sprintf("model %s is not a Sprint model; image-to-image needs one (e.g. sana-sprint-600m)", s.Model))
	}
	if st := s.Strength; math.IsNaN(st) || st < 0 || st > 1 {
		add("strength", formatFloat(st), "want a number in (0, 1] (0 = the model's default)")
	} else if st != 0 && !s.ImageToImage() {
		add("strength", formatFloat(st), "set without init_image or init_image_column")
	}
	s.validateNVlabs(add)
	if s.Parallel != "" && (len(s.LoRAs) > 0 || s.ImageToImage() || s.Config != "") {
		add("parallel", s.Parallel, "not supported yet with loras, init images or config/checkpoint")
	}
}

// ImageToImage reports whether the job's samples start from init images.
func (s JobSpec) ImageToImage() bool { return s.InitImage != "" || s.InitImageColumn != "" }

var reColumn = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,63}$`)

func (s JobSpec) validateInitColumn(add addFunc) {
	c := s.InitImageColumn
	switch {
	case c == "":
	case !reColumn.MatchString(c):
		add("init_image_column", textSummary(c), "want a column name: 1-64 letters, digits, _ . - starting with a letter or _")
	case c == "prompt" || c == "negative_prompt" || c == "seed" || c == "id":
		add("init_image_column", c, "names a column with another meaning; want an extra column")
	case s.InitImage != "":
		add("init_image_column", c, "give init_image or init_image_column, not both")
	case s.Prompts.URL == "":
		add("init_image_column", c, "needs a prompt file (prompts.url) with that column; inline prompts have no columns")
	}
}

func (s JobSpec) validateNVlabs(add addFunc) {
	if s.Config == "" && s.Checkpoint == "" {
		return
	}
	switch {
	case s.Config == "":
		add("config", "", "required with checkpoint: the NVlabs YAML config")
	case s.Checkpoint == "":
		add("checkpoint", "", "required with config: the NVlabs .pth checkpoint")
	case s.Model != "":
		add("model", s.Model, "leave model out when config and checkpoint name the model")
	}
	for _, f := range []struct{ name, v string }{{"config", s.Config}, {"checkpoint", s.Checkpoint}} {
		if f.v == "" {
			continue
		}
		if f.name == "config" && strings.HasPrefix(f.v, NVlabsConfigPrefix) {
			if !builtinConfig(f.v) {
				add(f.name, textSummary(f.v), "not a built-in config (those of the NVlabs presets, see sanafarm models list)")
			}
			continue
		}
		if err := checkModelURL(f.v, true, false); err != nil {
			add(f.name, textSummary(redactURL(f.v)), err.Error())
		}
	}
}

// builtinConfig reports whether ref is the config of an NVlabs preset.
func builtinConfig(ref string) bool {
	for _, p := range Presets() {
		if p.NVlabs() && p.Config == ref {
			return true
		}
	}
	return false
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// ModelFiles lists the files a job reads besides prompts (LoRAs, init
// image, NVlabs config and checkpoint, ControlNet and control image) by field name, hf:// URLs left out
// (they come from the Hub cache, not a node location).
func (s JobSpec) ModelFiles() (fields, urls []string) {
	addURL := func(field, u string) {
		if u != "" && !HubURL(u) {
			fields, urls = append(fields, field), append(urls, u)
		}
	}
	for i, l := range s.LoRAs {
		addURL(fmt.Sprintf("loras[%d].url", i), l.URL)
	}
	addURL("init_image", s.InitImage)
	if !builtinConfig(s.Config) { // embedded in sanafarm, not read from a location
		addURL("config", s.Config)
	}
	addURL("checkpoint", s.Checkpoint)
	addURL("controlnet", s.ControlNet)
	addURL("control_image", s.ControlImage)
	return fields, urls
}

// CheckModelFile checks one of a job's model files (field as ModelFiles
// names it) against Read; hf:// URLs pass.
func (a Access) CheckModelFile(field, raw string) error {
	if HubURL(raw) || (field == "config" && builtinConfig(raw)) {
		return nil
	}
	return a.check(field, raw, a.Read, "--allow-read")
}

// VariantKey names the weights a job needs loaded, as nodes announce their
// resident pipelines (NodeInfo.Models) and the scheduler matches them:
// the model alone for a plain job, else the model (or "nvlabs") + "+" and
// a short hash of the LoRA set, NVlabs files and ControlNet. A LoRA's weight and the
// scale are part of it: they are fused into the weights.
func (s JobSpec) VariantKey() string {
	if len(s.LoRAs) == 0 && s.Config == "" && s.ControlNet == "" {
		return s.Model
	}
	h := sha256.New()
	fmt.Fprintf(h, "config=%s\ncheckpoint=%s\nscale=%s\n", s.Config, s.Checkpoint, formatFloat(s.effectiveLoRAScale()))
	for _, l := range s.LoRAs {
		fmt.Fprintf(h, "lora=%s weight=%s\n", l.URL, formatFloat(l.EffectiveWeight()))
	}
	if s.ControlNet != "" { // loaded with the model (PAG is per request)
		fmt.Fprintf(h, "controlnet=%s\n", s.ControlNet)
	}
	base := s.Model
	if base == "" {
		base = "nvlabs"
	}
	return base + "+" + hex.EncodeToString(h.Sum(nil))[:16]
}

// VariantBase is the model part of a VariantKey.
func VariantBase(key string) string {
	base, _, _ := strings.Cut(key, "+")
	return base
}

func (s JobSpec) effectiveLoRAScale() float64 {
	if s.LoRAScale == 0 {
		return 1
	}
	return s.LoRAScale
}

// EffectiveLoRAScale is LoRAScale, or 1 when unset.
func (s JobSpec) EffectiveLoRAScale() float64 { return s.effectiveLoRAScale() }
