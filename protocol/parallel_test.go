package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseParallel(t *testing.T) {
	for in, want := range map[string]ParallelPlan{"tp:2": {"tp", 2}, "sp:4": {"sp", 4}, "sp:8": {"sp", 8}, "cfg:2": {"cfg", 2}} {
		got, err := ParseParallel(in)
		if err != nil || got != want || got.String() != in {
			t.Errorf("ParseParallel(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "tp", "tp:1", "tp:9", "cfg:3", "dp:2", "sp:x", "sp:-2"} {
		if _, err := ParseParallel(bad); err == nil {
			t.Errorf("ParseParallel(%q): no error", bad)
		}
	}
	// A long value is not quoted back, neither by the parser nor by Validate.
	long := "tp:" + strings.Repeat("9", 1<<16)
	if _, err := ParseParallel(long); err == nil || len(err.Error()) > 200 {
		t.Errorf("ParseParallel of %d bytes: error of %d bytes", len(long), len(err.Error()))
	}
	s := JobSpec{Model: "sana-tiny", Prompts: PromptSource{Inline: []string{"a"}}, Output: OutputSpec{URL: "/tmp/x"}, Parallel: long}
	if err := s.Validate(); err == nil || len(err.Error()) > 400 || !strings.Contains(err.Error(), "65539 bytes") {
		t.Errorf("Validate of a %d-byte plan: %.300v", len(long), err)
	}
}

func TestParallelSpec(t *testing.T) {
	s := JobSpec{Model: "sana-tiny", Prompts: PromptSource{Inline: []string{"a"}}, Output: OutputSpec{URL: "/tmp/x"}}
	if s.Ranks() != 1 {
		t.Errorf("ranks %d without a plan", s.Ranks())
	}
	s.Parallel = "sp:3"
	if err := s.Validate(); err != nil || s.Ranks() != 3 {
		t.Errorf("sp:3: %v, ranks %d", err, s.Ranks())
	}
	s.Parallel = "cfg:4"
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "parallel") {
		t.Errorf("cfg:4 accepted: %v", err)
	}
	for _, id := range []JobID{"my.job.v2", JobID("a" + strings.Repeat(".", 63))} { // dots are allowed in job ids
		a := Assignment{Task: Task{TaskKey: TaskKey{Job: id, Shard: MaxShards - 1}, Attempt: 100}, Spec: s, Ranks: 2,
			Group: GroupName(TaskKey{Job: id, Shard: MaxShards - 1}, 100)}
		if g := a.Group; strings.ContainsAny(g, ". *>") || len(g) > MaxNodeIDBytes {
			t.Errorf("group %q of job %q is not one subject token", g, id)
		}
	}
	if g := GroupName(TaskKey{Job: "j-00ff", Shard: 3}, 2); strings.ContainsAny(g, ". *>") {
		t.Errorf("group name %q is not one NATS token", g)
	}
	// Old readers ignore the new fields; new readers of old messages see
	// a single-rank assignment.
	var a Assignment
	if err := json.Unmarshal([]byte(`{"task":{"job":"j","shard":1,"attempt":1},"spec":{"model":"m"}}`), &a); err != nil || a.Ranks != 0 || a.Spec.Parallel != "" {
		t.Errorf("old assignment: %+v, %v", a, err)
	}
}
