package protocol

import (
	"regexp"
	"testing"
)

func TestNewJobID(t *testing.T) {
	shape := regexp.MustCompile(`^j-[0-9a-f]{16}$`)
	seen := map[JobID]bool{}
	for range 100 {
		id := NewJobID()
		if !shape.MatchString(string(id)) {
			t.Fatalf("NewJobID() = %q, want j- and 16 hex digits", id)
		}
		if err := CheckJobID(id); err != nil {
			t.Fatalf("CheckJobID(%q) = %v", id, err)
		}
		if seen[id] {
			t.Fatalf("NewJobID() repeated %q", id)
		}
		seen[id] = true
	}
}
