package protocol

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func validSpec() JobSpec {
	return JobSpec{Model: TinyPreset, Seed: 1, Prompts: PromptSource{Inline: []string{"a fox", "a cat"}},
		Output: OutputSpec{URL: "file:///tmp/out"}}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*JobSpec)
		field string // "" = valid
	}{
		{"valid", func(*JobSpec) {}, ""},
		{"repo id", func(s *JobSpec) { s.Model = "Efficient-Large-Model/Sana_600M_512px_diffusers" }, ""},
		{"unknown model", func(s *JobSpec) { s.Model = "sana-9000" }, "model"},
		{"bad repo", func(s *JobSpec) { s.Model = "a/b/c" }, "model"},
		{"steps 0 is default", func(s *JobSpec) { s.Steps = 0 }, ""},
		{"negative steps", func(s *JobSpec) { s.Steps = -1 }, "steps"},
		{"width not /32", func(s *JobSpec) { s.Width = 500 }, "width"},
		{"height too big", func(s *JobSpec) { s.Height = 8192 }, "height"},
		{"NaN guidance", func(s *JobSpec) { s.Guidance = math.NaN() }, "guidance"},
		{"inf guidance", func(s *JobSpec) { s.Guidance = math.Inf(1) }, "guidance"},
		{"sampler", func(s *JobSpec) { s.Sampler = "ddim" }, "sampler"},
		{"no prompts", func(s *JobSpec) { s.Prompts = PromptSource{} }, "prompts"},
		{"both sources", func(s *JobSpec) { s.Prompts.URL = "p.txt"; s.Prompts.Rows = 3 }, "prompts"},
		{"empty prompt", func(s *JobSpec) { s.Prompts.Inline[1] = "  " }, "prompts.inline[1]"},
		{"bad utf8", func(s *JobSpec) { s.Prompts.Inline[0] = "\xff" }, "prompts.inline[0]"},
		{"file without rows", func(s *JobSpec) { s.Prompts = PromptSource{URL: "s3://b/p.jsonl"} }, "prompts.rows"},
		{"bad format", func(s *JobSpec) { s.Prompts = PromptSource{URL: "p.xml", Rows: 2} }, "prompts.format"},
		{"bucketless s3", func(s *JobSpec) { s.Output.URL = "s3:///x" }, "output.url"},
		{"http output", func(s *JobSpec) { s.Output.URL = "http://x/y" }, "output.url"},
		{"no output", func(s *JobSpec) { s.Output.URL = "" }, "output.url"},
		{"output format", func(s *JobSpec) { s.Output.Format = "zip" }, "output.format"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validSpec()
			c.edit(&s)
			err := s.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var v ValidationError
			if !errors.As(err, &v) {
				t.Fatalf("err = %v, want a ValidationError on %s", err, c.field)
			}
			if v[0].Field != c.field {
				t.Errorf("field %q (%v), want %q", v[0].Field, err, c.field)
			}
			if e := v.AsError(); e.Code != CodeBadRequest || len(e.Fields) != len(v) {
				t.Errorf("wire error %+v", e)
			}
		})
	}
}

func TestExplicitZeroStepsIsInvalid(t *testing.T) {
	base, _ := json.Marshal(validSpec())
	for body, ok := range map[string]bool{
		string(base): true,
		strings.Replace(string(base), `"seed":1`, `"seed":1,"steps":0`, 1):  false,
		strings.Replace(string(base), `"seed":1`, `"seed":1,"steps":20`, 1): true,
	} {
		var s JobSpec
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatal(err)
		}
		if err := s.CheckBody([]byte(body)); (err == nil) != ok {
			t.Errorf("%s: err = %v, want valid = %v", body, err, ok)
		}
	}
}

func TestShardsAndRanges(t *testing.T) {
	s := validSpec()
	s.Prompts.Inline = make([]string, 10)
	s.ImagesPerPrompt = 3
	s.ShardSize = 7
	if s.Samples() != 30 || s.Shards() != 5 {
		t.Fatalf("samples %d shards %d", s.Samples(), s.Shards())
	}
	var covered int64
	for i := 0; i < s.Shards(); i++ {
		a, b := s.SampleRange(i)
		if a != covered || b <= a {
			t.Fatalf("shard %d = [%d, %d), want to start at %d", i, a, b, covered)
		}
		covered = b
	}
	if covered != 30 {
		t.Errorf("shards cover %d samples", covered)
	}
}

func TestCommandRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	in := TaskComplete{TaskKey: TaskKey{Job: "j-1", Shard: 4}, Attempt: 2, Result: ShardInfo{Node: "n1", Images: 64}, At: at}
	b, err := EncodeCommand(CmdTaskComplete, in)
	if err != nil {
		t.Fatal(err)
	}
	typ, payload, err := DecodeCommand(b)
	if err != nil || typ != CmdTaskComplete {
		t.Fatalf("type %v err %v", typ, err)
	}
	var out TaskComplete
	if err := json.Unmarshal(payload, &out); err != nil || out.Attempt != 2 || out.Result.Images != 64 || !out.At.Equal(at) {
		t.Fatalf("decoded %+v, %v", out, err)
	}
	if _, _, err := DecodeCommand(nil); !errors.Is(err, ErrEmptyCommand) {
		t.Error("empty entry accepted")
	}
	if s := (CmdTaskProgress | IgnoreUnknown).String(); s != "task-progress" {
		t.Errorf("String = %q", s)
	}
}

func TestKeys(t *testing.T) {
	if id, ok := NodeIDFromKey(NodeKey("gpu-7")); !ok || id != "gpu-7" {
		t.Errorf("node key round trip: %q %v", id, ok)
	}
	if _, ok := NodeIDFromKey("/other/x"); ok {
		t.Error("foreign key accepted")
	}
	if got := (TaskKey{Job: "j", Shard: 42}).String(); got != "j/00042" {
		t.Errorf("task key %q", got)
	}
	if CodeOf(Errorf(CodeStaleAttempt, "x")) != CodeStaleAttempt || CodeOf(errors.New("x")) != CodeInternal {
		t.Error("CodeOf")
	}
}

// FuzzJobSpec: any JSON body decodes and validates without panicking, and
// a spec that validates has a consistent shard plan.
func FuzzJobSpec(f *testing.F) {
	b, _ := json.Marshal(validSpec())
	f.Add(b)
	f.Add([]byte(`{"model":"sana-tiny","prompts":{"url":"s3://b/x.csv","rows":1000000},"output":{"url":"/o"},"shard_size":7}`))
	f.Add([]byte(`{"model":"sana-tiny","prompts":{"inline":["a"]},"output":{"url":"/o"},"timeout":"36h"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s JobSpec
		if json.Unmarshal(data, &s) != nil || s.Validate() != nil {
			return
		}
		if d := s.TimeoutDuration(); (s.Timeout != "") != (d > 0) || d > MaxJobTimeout {
			t.Fatalf("valid spec with timeout %q read as %v", s.Timeout, d)
		}
		if s.Samples() < 0 || (s.Samples() > 0 && s.Shards() < 1) {
			t.Fatalf("valid spec with %d samples, %d shards", s.Samples(), s.Shards())
		}
		if a, b := s.SampleRange(s.Shards() - 1); s.Samples() > 0 && (b != s.Samples() || a >= b) {
			t.Fatalf("last shard [%d, %d) of %d samples", a, b, s.Samples())
		}
	})
}

// FuzzDecodeCommand: arbitrary log entries never panic the decoder.
func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte{1, '{', '}'})
	f.Add([]byte{0x84})
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, payload, err := DecodeCommand(data)
		if err == nil && (len(payload) != len(data)-1 || byte(typ) != data[0]) {
			t.Fatal("inconsistent decode")
		}
		_ = strings.TrimSpace(typ.String())
	})
}

func TestForSamplesTrimsInlinePrompts(t *testing.T) {
	s := validSpec()
	s.Prompts.Inline = []string{"p0", "p1", "p2", "p3", "p4"}
	s.ImagesPerPrompt = 2 // samples 0..9
	cases := []struct {
		start, end int64
		want       []string
		first      int64
	}{{0, 4, []string{"p0", "p1"}, 0}, {3, 7, []string{"p1", "p2", "p3"}, 1}, {9, 10, []string{"p4"}, 4}}
	for _, c := range cases {
		got := s.ForSamples(c.start, c.end).Prompts
		if strings.Join(got.Inline, ",") != strings.Join(c.want, ",") || got.InlineStart != c.first {
			t.Errorf("[%d,%d): %v from %d, want %v from %d", c.start, c.end, got.Inline, got.InlineStart, c.want, c.first)
		}
		if got.Count() != 5 && c.end == 10 {
			t.Errorf("count %d", got.Count())
		}
	}
	if len(s.Prompts.Inline) != 5 {
		t.Error("ForSamples modified the job's spec")
	}
	bad := s.ForSamples(2, 4)
	if err := bad.Validate(); err == nil {
		t.Error("a spec with inline_start accepted")
	}
}
