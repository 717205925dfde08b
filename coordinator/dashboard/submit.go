package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// maxSubmitForm bounds the submit form (the API's own body limit is 1 MiB;
// the prompts go inline, at most protocol.MaxInlinePrompts of them).
const maxSubmitForm = 1 << 20

// submitResult is the JSON answer of a submit (app.js opens the job).
type submitResult struct {
	actionResult
	ID protocol.JobID `json:"id,omitempty"`
}

// submit turns the jobs page's form into a JobSpec and submits it through
// the API, which validates it (bad fields come back with their names).
func (d *Dashboard) submit(w http.ResponseWriter, r *http.Request, s *session) {
	r.Body = http.MaxBytesReader(w, r.Body, maxSubmitForm)
	if err := r.ParseMultipartForm(maxSubmitForm); err != nil && err != http.ErrNotMultipart {
		d.answer(w, http.StatusBadRequest, fmt.Errorf("submit form: %w", err))
		return
	}
	if r.PostForm == nil {
		if err := r.ParseForm(); err != nil {
			d.answer(w, http.StatusBadRequest, fmt.Errorf("submit form: %w", err))
			return
		}
	}
	spec, err := specFromForm(r)
	if err != nil {
		d.answer(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	job, err := s.api.SubmitJob(ctx, spec)
	if err != nil {
		d.answer(w, statusOf(err), err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(submitResult{actionResult: actionResult{OK: true}, ID: job.ID})
}

// specFromForm reads the form's fields; numbers that do not parse are
// errors naming the field, everything else is left to the API's
// validation.
func specFromForm(r *http.Request) (protocol.JobSpec, error) {
	f := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	spec := protocol.JobSpec{Name: f("name"), Model: f("model"), NegativePrompt: f("negative"), Timeout: f("timeout"),
		Output: protocol.OutputSpec{URL: f("output"), Format: f("format")}}
	ints := []struct {
		field string
		dst   *int
	}{{"width", &spec.Width}, {"height", &spec.Height}, {"steps", &spec.Steps}, {"images_per_prompt", &spec.ImagesPerPrompt},
		{"priority", &spec.Priority}, {"shard_size", &spec.ShardSize}}
	for _, x := range ints {
		if v := f(x.field); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return spec, fmt.Errorf("field %s: %q is not an integer", x.field, v)
			}
			*x.dst = n
		}
	}
	if v := f("guidance"); v != "" {
		g, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return spec, fmt.Errorf("field guidance: %q is not a number", v)
		}
		spec.Guidance = g
	}
	if v := f("seed"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return spec, fmt.Errorf("field seed: %q is not a non-negative integer", v)
		}
		spec.Seed = seed
	}
	if url := f("prompts_url"); url != "" {
		spec.Prompts.URL = url
		return spec, nil
	}
	if err := uploadedPrompts(r, &spec); err != nil {
		return spec, err
	}
	for _, line := range strings.Split(r.PostFormValue("prompts"), "\n") {
		if p := strings.TrimSpace(line); p != "" {
			spec.Prompts.Inline = append(spec.Prompts.Inline, p)
		}
	}
	if len(spec.Prompts.Inline) == 0 {
		return spec, fmt.Errorf("field prompts: enter at least one prompt (one per line), upload a .txt or give a prompt file URL")
	}
	if len(spec.Prompts.Inline) > protocol.MaxInlinePrompts {
		return spec, fmt.Errorf("field prompts: %d prompts, at most %d inline (use a prompt file URL)", len(spec.Prompts.Inline), protocol.MaxInlinePrompts)
	}
	return spec, nil
}

// presetNames lists the model presets for the form's select.
func presetNames() []string {
	var out []string
	for _, p := range protocol.Presets() {
		out = append(out, p.Name)
	}
	return out
}

// uploadedPrompts adds the prompts of an uploaded .txt file (one per line,
// the form's byte limit; checked like any prompt file: UTF-8, line
// length) to spec's inline prompts. Larger files and JSONL/CSV with their
// extra columns go through `sanafarm submit`, which uploads them to the
// job's store.
func uploadedPrompts(r *http.Request, spec *protocol.JobSpec) error {
	file, hdr, err := r.FormFile("prompts_file")
	if errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("field prompts_file: %w", err)
	}
	defer file.Close()
	if hdr.Size == 0 {
		return nil
	}
	if !strings.HasSuffix(strings.ToLower(hdr.Filename), ".txt") {
		return fmt.Errorf("field prompts_file: %q: upload a .txt file (one prompt per line); JSONL and CSV go through sanafarm submit", hdr.Filename)
	}
	return storage.ScanPrompts(r.Context(), file, storage.FormatTXT, hdr.Filename, func(_ int64, p string) error {
		if len(spec.Prompts.Inline) >= protocol.MaxInlinePrompts {
			return fmt.Errorf("field prompts_file: more than %d prompts (use sanafarm submit)", protocol.MaxInlinePrompts)
		}
		spec.Prompts.Inline = append(spec.Prompts.Inline, strings.TrimSpace(p))
		return nil
	})
}
