package protocol

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestValidateJobSize: a client's claimed size is bounded (issue 13 item
// 1: a job of 6.9e13 shards was accepted), and each refusal names the
// field and its value.
func TestValidateJobSize(t *testing.T) {
	file := func(rows int64, ipp, shardSize int) JobSpec {
		s := validSpec()
		s.Prompts = PromptSource{URL: "s3://b/p.jsonl", Rows: rows}
		s.ImagesPerPrompt, s.ShardSize = ipp, shardSize
		return s
	}
	cases := []struct {
		name         string
		spec         JobSpec
		field, value string // "" = valid
	}{
		{"largest allowed", file(MaxSamples/1000, 1000, 100), "", ""},
		{"6.9e13 shards", file(MaxRows, MaxImagesPerPrompt, 1), "prompts.rows", "68719476736"},
		{"rows over the sample cap", file(MaxSamples+1, 1, 100000), "prompts.rows", "10000000001"},
		{"images per prompt over the cap", file(MaxSamples/10, 11, 100000), "prompts.rows", "1000000000"},
		{"too many shards", file(MaxShards+1, 1, 1), "shard_size", "1"},
		{"default shard size too small", file(MaxSamples, 1, 0), "shard_size", "64"},
		{"inline x images per prompt", func() JobSpec {
			s := validSpec()
			s.ImagesPerPrompt, s.ShardSize = MaxImagesPerPrompt, 1
			s.Prompts.Inline = make([]string, MaxInlinePrompts)
			for i := range s.Prompts.Inline {
				s.Prompts.Inline[i] = "p"
			}
			return s
		}(), "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.spec.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var v ValidationError
			if !errors.As(err, &v) || len(v) != 1 || v[0].Field != c.field || v[0].Value != c.value {
				t.Fatalf("err = %#v, want one error on %s = %s", err, c.field, c.value)
			}
		})
	}
}

// TestValidateNamesValues: text fields are bounded and their errors carry
// a value (quoted, or its size when long) — never an empty one.
func TestValidateNamesValues(t *testing.T) {
	cases := []struct {
		name, field, value string
		edit               func(*JobSpec)
	}{
		{"long name", "name", "257 bytes", func(s *JobSpec) { s.Name = strings.Repeat("n", 257) }},
		{"control char in name", "name", `"a\nb"`, func(s *JobSpec) { s.Name = "a\nb" }},
		{"long revision", "revision", "300 bytes", func(s *JobSpec) { s.Revision = strings.Repeat("r", 300) }},
		{"blank prompt", "prompts.inline[1]", `" "`, func(s *JobSpec) { s.Prompts.Inline[1] = " " }},
		{"huge negative prompt", "negative_prompt", "65537 bytes", func(s *JobSpec) { s.NegativePrompt = strings.Repeat("x", MaxPromptBytes+1) }},
		{"long variant", "variant", "100000 bytes", func(s *JobSpec) { s.Variant = strings.Repeat("v", 100_000) }},
		{"long sampler", "sampler", "100000 bytes", func(s *JobSpec) { s.Sampler = strings.Repeat("s", 100_000) }},
		{"long output format", "output.format", "100000 bytes", func(s *JobSpec) { s.Output.Format = strings.Repeat("f", 100_000) }},
		{"long prompt format", "prompts.format", "100000 bytes", func(s *JobSpec) {
			s.Prompts = PromptSource{URL: "/p.txt", Rows: 1, Format: strings.Repeat("f", 100_000)}
		}},
		{"bad variant", "variant", `"fp8"`, func(s *JobSpec) { s.Variant = "fp8" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validSpec()
			c.edit(&s)
			var v ValidationError
			if err := s.Validate(); !errors.As(err, &v) || v[0].Field != c.field || v[0].Value != c.value {
				t.Fatalf("err = %v, want %s = %s", err, c.field, c.value)
			}
		})
	}
}

// TestValidateLocationsBoundedAndRedacted: prompts.url, output.url and
// model are bounded, and their errors show the URL redacted (never its
// credentials, not even inside url.Parse's message, which quotes the raw
// URL) and summarised when long (an 800 KB output URL passed, and came
// back whole in the reply).
func TestValidateLocationsBoundedAndRedacted(t *testing.T) {
	long := "s3://bucket/" + strings.Repeat("o", 800_000)
	cases := []struct {
		name, field, value string
		edit               func(*JobSpec)
	}{
		{"output url credentials", "output.url", `"s3://AKIA:xxxxx@bucket/out%zz"`,
			func(s *JobSpec) { s.Output.URL = "s3://AKIA:SECRET@bucket/out%zz" }},
		{"output url token", "output.url", `"s3://xxxxx@bucket/o%zz?xxxxx"`,
			func(s *JobSpec) { s.Output.URL = "s3://SECRET@bucket/o%zz?sig=SECRET" }},
		{"output url too long", "output.url", "800012 bytes", func(s *JobSpec) { s.Output.URL = long }},
		{"output url one over", "output.url", "1025 bytes",
			func(s *JobSpec) { s.Output.URL = "/" + strings.Repeat("o", MaxLocationURLSize) }},
		{"prompts url credentials", "prompts.url", `"s3://AKIA:xxxxx@bucket/p%zz.txt"`,
			func(s *JobSpec) { s.Prompts = PromptSource{URL: "s3://AKIA:SECRET@bucket/p%zz.txt", Rows: 2} }},
		{"prompts url too long", "prompts.url", "800016 bytes",
			func(s *JobSpec) { s.Prompts = PromptSource{URL: long + ".txt", Rows: 2} }},
		// The extension is the path's: a dot in a password is no format.
		{"prompts url without a path", "prompts.format", `""`,
			func(s *JobSpec) { s.Prompts = PromptSource{URL: "s3://AKIA:pa.SECRET@bucket", Rows: 2} }},
		{"model too long", "model", "100000 bytes", func(s *JobSpec) { s.Model = strings.Repeat("m", 100_000) }},
		{"repo id too long", "model", "257 bytes",
			func(s *JobSpec) { s.Model = "org/" + strings.Repeat("m", MaxModelIDSize-3) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validSpec()
			c.edit(&s)
			err := s.Validate()
			var v ValidationError
			if !errors.As(err, &v) || len(v) != 1 || v[0].Field != c.field || v[0].Value != c.value {
				t.Fatalf("err = %.300v, want one error on %s = %s", err, c.field, c.value)
			}
			if msg := err.Error(); strings.Contains(strings.ToLower(msg), "secret") || len(msg) > 2048 {
				t.Errorf("error echoes the credential or the long value (%d bytes): %.300s", len(msg), msg)
			}
		})
	}
	for _, edit := range []func(*JobSpec){ // at the limits: still valid
		func(s *JobSpec) { s.Output.URL = "/" + strings.Repeat("o", MaxLocationURLSize-1) },
		func(s *JobSpec) { s.Model = "org/" + strings.Repeat("m", MaxModelIDSize-4) },
	} {
		s := validSpec()
		edit(&s)
		if err := s.Validate(); err != nil {
			t.Errorf("at the limit: %.300v", err)
		}
	}
}

// TestJobTimeout: a timeout is a Go duration within its bounds, refused
// otherwise naming the field and value; it counts from the run's start
// (RunSince), or from CreatedAt in state written before RunSince existed.
func TestJobTimeout(t *testing.T) {
	for _, c := range []struct {
		timeout string
		want    time.Duration // 0: refused (or none, for "")
		value   string        // the refusal's value
	}{
		{"", 0, ""},
		{"36h", 36 * time.Hour, ""},
		{"90m", 90 * time.Minute, ""},
		{"1s", time.Second, ""},
		{"8784h", MaxJobTimeout, ""},
		{"8785h", 0, `"8785h"`},
		{"999ms", 0, `"999ms"`},
		{"-1h", 0, `"-1h"`},
		{"0", 0, `"0"`},
		{"1 day", 0, `"1 day"`},
		{strings.Repeat("9", 40) + "h", 0, `"` + strings.Repeat("9", 40) + `h"`},
	} {
		s := validSpec()
		s.Timeout = c.timeout
		if got := s.TimeoutDuration(); got != c.want {
			t.Errorf("TimeoutDuration(%q) = %v, want %v", c.timeout, got, c.want)
		}
		err := s.Validate()
		var v ValidationError
		switch {
		case c.value == "" && err != nil:
			t.Errorf("timeout %q: %v", c.timeout, err)
		case c.value != "" && (!errors.As(err, &v) || len(v) != 1 || v[0].Field != "timeout" || v[0].Value != c.value):
			t.Errorf("timeout %q: %#v, want one error on timeout = %s", c.timeout, err, c.value)
		}
	}
	created := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	j := Job{Spec: validSpec(), CreatedAt: created}
	if !j.TimeoutAt().IsZero() {
		t.Errorf("no timeout: TimeoutAt %v", j.TimeoutAt())
	}
	j.Spec.Timeout = "2h"
	if got := j.TimeoutAt(); !got.Equal(created.Add(2 * time.Hour)) {
		t.Errorf("TimeoutAt without RunSince = %v, want CreatedAt + 2h", got)
	}
	j.RunSince = created.Add(24 * time.Hour) // retried a day later
	if got := j.TimeoutAt(); !got.Equal(created.Add(26 * time.Hour)) {
		t.Errorf("TimeoutAt after a retry = %v, want RunSince + 2h", got)
	}
}
