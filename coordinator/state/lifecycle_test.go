package state

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestOutputOverlap: output locations are compared normalised and at
// path-segment boundaries (issue 13 item 6).
func TestOutputOverlap(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"/data/out", "file:///data/out/", true},
		{"/data/out", "file://localhost/data/out", true},
		{"/data/out", "/data/./x/../out", true},
		{"/data/out", "/data/out/a", true},
		{"/data/out/a", "/data", true},
		{"/data/out", "/data/outer", false},
		{"/data/out", "s3://data/out", false},
		{"s3://bucket/run", "S3://bucket/run/1?region=x", true},
		{"s3://bucket/run", "s3://other/run", false},
		{"s3://bucket", "s3://bucket/anything", true},
	}
	for _, c := range cases {
		if got := overlaps(OutputKey(c.a), OutputKey(c.b)); got != c.want {
			t.Errorf("overlaps(%q, %q) = %v (keys %q, %q), want %v", c.a, c.b, got, OutputKey(c.a), OutputKey(c.b), c.want)
		}
	}
}

// TestFailureSummary: distinct reasons, most frequent first, with their
// shards; bounded in reasons, shards and length.
func TestFailureSummary(t *testing.T) {
	s := New()
	sp := spec(40, 1)
	sp.MaxAttempts = 100
	if err := s.UpsertJob(1, protocol.JobSubmit{Job: protocol.Job{ID: "j", Spec: sp}, At: t0}); err != nil {
		t.Fatal(err)
	}
	idx := uint64(2)
	fail := func(shard int, reason string) {
		tk, _ := s.TaskByKey(key("j", shard))
		s.AssignTasks(idx, protocol.TaskAssign{Node: "n", Leases: []protocol.TaskNext{lease("j", shard, tk.Attempt+1)}, At: t0})
		if err := s.FailTask(idx+1, protocol.TaskFail{TaskKey: key("j", shard), Attempt: tk.Attempt + 1, Node: "n", Reason: reason, At: t0}); err != nil {
			t.Fatal(err)
		}
		idx += 2
	}
	for sh := range 8 {
		fail(sh, "model not found")
	}
	fail(3, "model not found")
	fail(9, "disk full")
	for i := range 10 {
		fail(20+i, fmt.Sprintf("odd %d %s", i, strings.Repeat("x", 500)))
	}
	got := s.FailureSummary("j")
	for _, want := range []string{`"model not found" (9 attempts, shards 0,1,2,3,4,… 8 in all)`, "and 7 more reasons"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
	if len(got) > 1500 || strings.Count(got, "xxxxx") == 0 {
		t.Errorf("summary of %d bytes: %q", len(got), got)
	}
	if s.FailureSummary("nope") != "" {
		t.Error("summary of an unknown job")
	}
}
