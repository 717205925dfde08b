package protocol

import (
	"slices"
	"testing"
)

// TestNodeSubjects: a node's control subjects carry its id as one token,
// and only a message on a node's own subject, or on the bare subject
// (shared node user, older nodes), may speak for that node.
func TestNodeSubjects(t *testing.T) {
	if s := NodeSubject(SubjectLease, "w0.example"); s != "sanafarm.ctl.lease.w0%2Eexample" {
		t.Errorf("NodeSubject = %q", s)
	}
	for _, c := range []struct {
		subject, base, id string
		ok                bool
	}{
		{SubjectLease, SubjectLease, "n1", true},
		{NodeSubject(SubjectLease, "n1"), SubjectLease, "n1", true},
		{NodeSubject(SubjectLease, "n2"), SubjectLease, "n1", false},
		{NodeSubject(SubjectProgress, "w0.example"), SubjectProgress, "w0.example", true},
		{NodeSubject(SubjectProgress, "w0.example"), SubjectProgress, "w0%2Eexample", false},
		{SubjectComplete + ".", SubjectComplete, "n1", false},
	} {
		err := CheckSender(c.subject, c.base, c.id)
		if (err == nil) != c.ok || err != nil && CodeOf(err) != CodeBadRequest {
			t.Errorf("CheckSender(%q, %q, %q) = %v, want ok %v", c.subject, c.base, c.id, err, c.ok)
		}
	}
}

// TestControlPermissions: a per-node user may publish only its own
// control subjects (not the bare ones, nor another node's); the shared
// node user any; the coordinator subscribes to all.
func TestControlPermissions(t *testing.T) {
	own, shared, coord := NodePermissions("w0"), NodePermissions(""), CoordinatorPermissions()
	for _, base := range ControlSubjects {
		for _, c := range []struct {
			list    []string
			subject string
			want    bool
		}{
			{own.Publish, NodeSubject(base, "w0"), true},
			{own.Publish, base, false},
			{own.Publish, base + ".*", false},
			{shared.Publish, base, true},
			{shared.Publish, base + ".*", true},
			{coord.Subscribe, base, true},
			{coord.Subscribe, base + ".*", true},
		} {
			if slices.Contains(c.list, c.subject) != c.want {
				t.Errorf("%v: %q listed %v, want %v", c.list, c.subject, !c.want, c.want)
			}
		}
	}
}
