package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

var (
	reRepo     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$`)
	promptExts = []string{"txt", "jsonl", "csv", "parquet"}
)

// reJobID is the shape of a job id: the coordinator's own "j-" + 16 hex
// digits, or a client's choice of 1-64 letters, digits, '_', '.', '-'
// (never '/', and never "." or ".." since it starts with a letter or digit).
var reJobID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// CheckJobID returns a bad_request *Error naming the field "id" and its
// value when id is not a valid job id.
func CheckJobID(id JobID) error {
	if reJobID.MatchString(string(id)) {
		return nil
	}
	v := string(id)
	if len(v) > 80 {
		v = v[:80] + "…"
	}
	return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("invalid job id %q", v),
		Fields: []FieldError{{Field: "id", Value: v, Problem: "want 1-64 letters, digits, _ . - starting with a letter or digit"}}}
}

// Validate checks a job spec and returns every problem as a
// ValidationError (nil when valid).
func (s JobSpec) Validate() error {
	s = s.ExpandPreset() // an NVlabs preset is checked as its config and checkpoint
	var v ValidationError
	add := func(field, value, problem string) {
		v = append(v, FieldError{Field: field, Value: value, Problem: problem})
	}
	s.validateModel(add)
	s.validateImage(add)
	s.validatePrompts(add)
	s.validatePromptIndex(add)
	s.validateOutput(add)
	s.validateSize(add)
	s.validateAdapters(add)
	s.validateGuidance(add)
	if len(v) == 0 {
		return nil
	}
	return v
}

type addFunc func(field, value, problem string)

// Bounds of a spec's locations and model id. The spec is kept in every
// replica's job record and its fields are echoed in errors, listings and
// provenance. An S3 key is at most 1024 bytes, so a longer prompt file or
// output prefix names nothing a node could read or write; a Hugging Face
// repo id is far shorter than MaxModelIDSize (96 bytes a part).
const (
	MaxLocationURLSize = MaxModelURLSize // bytes of prompts.url or output.url
	MaxModelIDSize     = MaxLabelBytes   // bytes of model: a preset name or a repo id
)

func (s JobSpec) validateModel(add addFunc) {
	switch {
	case s.Model == "" && s.Config != "":
		// an NVlabs job: validateAdapters checks config and checkpoint
	case s.Model == "":
		add("model", "", "required: a preset name or a Hugging Face repo id")
	case len(s.Model) > MaxModelIDSize: // before LookupPreset, whose error quotes it
		add("model", textSummary(s.Model), fmt.Sprintf("longer than %d bytes: not a preset name or a Hugging Face repo id", MaxModelIDSize))
	case strings.Contains(s.Model, "/"):
		if !reRepo.MatchString(s.Model) {
			add("model", s.Model, "not a Hugging Face repo id (org/name)")
		}
	default:
		if _, err := LookupPreset(s.Model); err != nil {
			add("model", s.Model, err.Error())
		}
	}
	if s.Variant != "" && s.Variant != "bf16" && s.Variant != "fp16" && s.Variant != "fp32" {
		add("variant", textSummary(s.Variant), "want bf16, fp16 or fp32")
	}
	if s.Sampler != "" && s.Sampler != "dpm" && s.Sampler != "euler" {
		add("sampler", textSummary(s.Sampler), "want dpm or euler")
	}
}

func (s JobSpec) validateImage(add addFunc) {
	for _, d := range []struct {
		name string
		v    int
	}{{"width", s.Width}, {"height", s.Height}} {
		switch {
		case d.v < 0 || d.v > MaxImageSide:
			add(d.name, strconv.Itoa(d.v), fmt.Sprintf("want 0 (the model's size) or 32..%d", MaxImageSide))
		case d.v%32 != 0:
			add(d.name, strconv.Itoa(d.v), "must be a multiple of 32")
		}
	}
	if s.Steps < 0 || s.Steps > MaxSteps {
		add("steps", strconv.Itoa(s.Steps), fmt.Sprintf("want 1..%d (omit it for the model's default)", MaxSteps))
	}
	g := s.Guidance
	if math.IsNaN(g) || math.IsInf(g, 0) || g < 0 || g > 100 {
		add("guidance", strconv.FormatFloat(g, 'g', -1, 64), "want a finite number in 0..100 (0 = the model's default)")
	}
	if s.ImagesPerPrompt < 0 || s.ImagesPerPrompt > MaxImagesPerPrompt {
		add("images_per_prompt", strconv.Itoa(s.ImagesPerPrompt), fmt.Sprintf("want 1..%d", MaxImagesPerPrompt))
	}
	if s.ShardSize < 0 || s.ShardSize > MaxShardSize {
		add("shard_size", strconv.Itoa(s.ShardSize), fmt.Sprintf("want 1..%d (0 = default)", MaxShardSize))
	}
	if s.MaxAttempts < 0 || s.MaxAttempts > 100 {
		add("max_attempts", strconv.Itoa(s.MaxAttempts), "want 1..100 (0 = default)")
	}
	if s.Timeout != "" && s.TimeoutDuration() == 0 {
		add("timeout", textSummary(s.Timeout), fmt.Sprintf("want a duration from %v to %.0fh (366 days), such as 36h or 90m (omit it for none)",
			MinJobTimeout, MaxJobTimeout.Hours()))
	}
	if s.Parallel != "" {
		if _, err := ParseParallel(s.Parallel); err != nil {
			add("parallel", textSummary(s.Parallel), err.Error())
		}
	}
	if len(s.NegativePrompt) > MaxPromptBytes || !utf8.ValidString(s.NegativePrompt) {
		add("negative_prompt", textSummary(s.NegativePrompt), fmt.Sprintf("must be valid UTF-8 of at most %d bytes", MaxPromptBytes))
	}
	s.validateLabels(add)
}

// MaxLabelBytes bounds the free-text labels of a spec (name, revision).
const MaxLabelBytes = 256

func (s JobSpec) validateLabels(add addFunc) {
	for _, f := range []struct{ name, v string }{{"name", s.Name}, {"revision", s.Revision}} {
		if len(f.v) > MaxLabelBytes || !utf8.ValidString(f.v) || strings.ContainsFunc(f.v, isControl) {
			add(f.name, textSummary(f.v), fmt.Sprintf("want printable UTF-8 of at most %d bytes", MaxLabelBytes))
		}
	}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// textSummary is how a field error shows a text value: quoted when short,
// its size when long (a 64 KiB prompt does not belong in an error).
func textSummary(v string) string {
	if len(v) <= 64 && utf8.ValidString(v) {
		return strconv.Quote(v)
	}
	return fmt.Sprintf("%d bytes", len(v))
}

func (s JobSpec) validatePrompts(add addFunc) {
	p := s.Prompts
	switch {
	case len(p.Inline) > 0 && p.URL != "":
		add("prompts", "", "give either inline prompts or a url, not both")
	case len(p.Inline) == 0 && p.URL == "":
		add("prompts", "", "required: inline prompts or a prompt file url")
	case p.InlineStart != 0:
		add("prompts.inline_start", strconv.FormatInt(p.InlineStart, 10), "must be 0 in a job spec")
	case len(p.Inline) > MaxInlinePrompts:
		add("prompts.inline", strconv.Itoa(len(p.Inline)), fmt.Sprintf("at most %d inline prompts; upload a file instead", MaxInlinePrompts))
	case p.URL != "" && (p.Rows <= 0 || p.Rows > MaxRows):
		add("prompts.rows", strconv.FormatInt(p.Rows, 10), fmt.Sprintf("the prompt file's row count must be 1..%d", int64(MaxRows)))
	}
	for i, t := range p.Inline {
		if len(t) > MaxPromptBytes || !utf8.ValidString(t) || strings.TrimSpace(t) == "" {
			add(fmt.Sprintf("prompts.inline[%d]", i), textSummary(t), fmt.Sprintf("must be non-empty valid UTF-8 of at most %d bytes", MaxPromptBytes))
			break
		}
	}
	if p.URL != "" {
		if err := checkURL(p.URL); err != nil {
			add("prompts.url", textSummary(redactURL(p.URL)), err.Error())
		}
		if f := p.FormatOrExt(); !contains(promptExts, f) {
			add("prompts.format", textSummary(f), "want txt, jsonl, csv or parquet")
		}
	}
}

// Job size limits. The coordinator keeps a job in memory independent of
// its size (tasks are implied until leased, see coordinator/state), but a
// size claimed by a client is still bounded: counters and shard numbers
// stay far from overflow, and every per-shard loop (task listings,
// manifests) has a known worst case.
const (
	MaxSamples   = 10_000_000_000 // images per job
	MaxShards    = 100_000_000    // shards per job
	MaxShardSize = 100_000        // images per shard (shard_size); a node refuses a larger task (Assignment.Check)
)

// validateSize checks the job's images and shards against MaxSamples and
// MaxShards. Counts the other checks already refuse are not re-reported.
func (s JobSpec) validateSize(add addFunc) {
	p := s.Prompts
	rows := p.Count()
	if p.InlineStart != 0 || rows <= 0 || rows > MaxRows || s.ImagesPerPrompt < 0 ||
		s.ImagesPerPrompt > MaxImagesPerPrompt || s.ShardSize < 0 || s.ShardSize > MaxShardSize {
		return
	}
	ipp := int64(max(s.ImagesPerPrompt, 1))
	if samples := rows * ipp; samples > MaxSamples { // rows <= 2^36, ipp <= 1000: no overflow
		field, value := "prompts.rows", strconv.FormatInt(rows, 10)
		if len(p.Inline) > 0 {
			field, value = "images_per_prompt", strconv.FormatInt(ipp, 10)
		}
		add(field, value, fmt.Sprintf("%d prompts × %d images per prompt = %d images, over the limit of %d per job; split the job",
			rows, ipp, samples, int64(MaxSamples)))
		return
	}
	if shards := s.Shards(); shards > MaxShards {
		add("shard_size", strconv.Itoa(s.EffectiveShardSize()), fmt.Sprintf("%d images in shards of %d = %d shards, over the limit of %d per job; raise shard_size",
			s.Samples(), s.EffectiveShardSize(), shards, MaxShards))
	}
}

func (s JobSpec) validateOutput(add addFunc) {
	if s.Output.URL == "" {
		add("output.url", "", "required: file:///dir, s3://bucket/prefix or a path")
	} else if err := checkURL(s.Output.URL); err != nil {
		add("output.url", textSummary(redactURL(s.Output.URL)), err.Error())
	}
	if f := s.Output.Format; f != "" && f != "files" && f != "webdataset" {
		add("output.format", textSummary(f), "want files or webdataset")
	}
}

// ExplicitZeroSteps reports whether a JSON job spec body sets `"steps": 0`:
// an absent steps field means the model's default, an explicit 0 is a
// mistake the API rejects (CheckBody).
func ExplicitZeroSteps(body []byte) bool {
	var probe struct {
		Steps *json.Number `json:"steps"`
	}
	if json.Unmarshal(body, &probe) != nil || probe.Steps == nil {
		return false
	}
	f, err := probe.Steps.Float64()
	return err == nil && f == 0
}

// CheckBody validates a decoded spec together with its JSON body (which
// can tell an explicit `"steps": 0` from an absent field).
func (s JobSpec) CheckBody(body []byte) error {
	err := s.Validate()
	if !ExplicitZeroSteps(body) {
		return err
	}
	zero := FieldError{Field: "steps", Value: "0", Problem: fmt.Sprintf("want 1..%d (omit it for the model's default)", MaxSteps)}
	var v ValidationError
	if errors.As(err, &v) {
		return append(ValidationError{zero}, v...)
	}
	return ValidationError{zero}
}

// FormatOrExt is Format, or the URL's extension when Format is empty.
// The extension is the path's: a URL's authority is skipped, since a dot
// in its userinfo ("s3://key:pa.ss@bucket") would make a secret the
// format that an error then shows.
func (p PromptSource) FormatOrExt() string {
	if p.Format != "" {
		return p.Format
	}
	u := p.URL
	if _, rest, ok := strings.Cut(u, "://"); ok {
		_, u, _ = strings.Cut(rest, "/")
	}
	if i := strings.LastIndexByte(u, '.'); i >= 0 && !strings.Contains(u[i:], "/") {
		return strings.ToLower(u[i+1:])
	}
	return ""
}

// checkURL accepts paths, file:// and s3:// URLs of at most
// MaxLocationURLSize bytes. Its errors never quote raw, which may carry
// credentials: url.Parse's *url.Error does, so only the error inside it
// (the bad escape, port or character) is kept.
func checkURL(raw string) error {
	if len(raw) > MaxLocationURLSize {
		return fmt.Errorf("longer than %d bytes", MaxLocationURLSize)
	}
	if !strings.Contains(raw, "://") {
		return nil // a plain path
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", errors.Unwrap(err))
	}
	switch {
	case u.Scheme == "file":
		return nil
	case u.Scheme == "s3" && u.Host != "":
		return nil
	case u.Scheme == "s3":
		return fmt.Errorf("s3 URL needs a bucket: s3://bucket/prefix")
	}
	return fmt.Errorf("unsupported scheme %q (want file, s3 or a path)", u.Scheme)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
