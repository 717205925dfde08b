package main

import (
	"errors"
	"strconv"
	"strings"
	"unicode"

	"github.com/sanafarm/sanafarm/protocol"
)

// specFlags names the submit flag behind each JobSpec field the
// protocol's validation reports (a field with an index, loras[0].url,
// is looked up by its name before the index). Fields without a flag
// (variant, revision, a prompt file's rows and index) are reported by
// their field name.
var specFlags = map[string]string{
	"model": "--model", "sampler": "--sampler", "width": "--width", "height": "--height", "steps": "--steps",
	"guidance": "--guidance", "images_per_prompt": "--images-per-prompt", "shard_size": "--shard-size",
	"max_attempts": "--max-attempts", "timeout": "--timeout", "parallel": "--parallel", "negative_prompt": "--negative", "name": "--name",
	"prompts.inline": "--prompt", "prompts.url": "--prompts", "prompts.format": "--prompts-format",
	"output.url": "--dest", "output.format": "--format",
	"loras": "--lora", "lora_scale": "--lora-scale", "init_image": "--init-image", "init_image_column": "--init-image-column",
	"strength": "--strength", "config": "--config", "checkpoint": "--checkpoint",
	"pag_scale": "--pag-scale", "pag_adaptive_scale": "--pag-adaptive-scale", "pag_layers": "--pag-layers",
	"controlnet": "--controlnet", "control_image": "--control-image", "control_image_column": "--control-image-column",
	"controlnet_scale": "--controlnet-scale",
}

// checkSubmitSpec runs the coordinator's own checks of a job spec
// (protocol.JobSpec.Validate, the rules live there only) on what the
// flags say, before a prompt file is read or uploaded or the coordinator
// is contacted: a value it would refuse (--steps -2, --width 100) is a
// usage error (exit status 2) naming the flag. A prompt file stands in
// as its URL and format with one row: its contents are checked when it
// is read. A model that is no preset this binary knows is left to the
// coordinator, which may be of a newer release with more presets.
func checkSubmitSpec(spec protocol.JobSpec, promptsFile, format string) error {
	if promptsFile != "" {
		u, err := localURL(promptsFile)
		if err != nil {
			return nil // reported when the file is read
		}
		spec.Prompts = protocol.PromptSource{URL: u, Format: format, Rows: 1}
	}
	var v protocol.ValidationError
	if !errors.As(spec.Validate(), &v) {
		return nil
	}
	var problems []string
	for _, fe := range v {
		if fe.Field == "model" && fe.Value == spec.Model && !strings.Contains(spec.Model, "/") {
			if _, err := protocol.LookupPreset(spec.Model); err != nil && fe.Problem == err.Error() {
				continue
			}
		}
		problems = append(problems, flagProblem(fe))
	}
	if len(problems) == 0 {
		return nil
	}
	return usagef("%s", strings.Join(problems, "; "))
}

// flagProblem words a field error by its flag: "--steps -2: want ...",
// or "--lora: loras[0].weight = 1e+09: want ..." for a part of a flag's
// value, or as the protocol words it when no flag sets the field.
func flagProblem(fe protocol.FieldError) string {
	base, _, _ := strings.Cut(fe.Field, "[")
	flag, ok := specFlags[base]
	switch {
	case !ok:
		return fe.String()
	case base != fe.Field:
		return flag + ": " + fe.String()
	case fe.Value == "":
		return flag + ": " + fe.Problem
	}
	v := fe.Value
	if u, err := strconv.Unquote(v); err == nil && u != "" && !strings.ContainsFunc(u, unicode.IsSpace) {
		v = u // the protocol quotes client strings; on a command line "--format tar" reads as typed
	}
	return flag + " " + v + ": " + fe.Problem
}
