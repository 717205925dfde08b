package state

import (
	"bytes"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestSpecBytesSums: SpecBytes counts a job by the size its bounded
// submit recorded, and a job submitted without one by its spec's size
// measured here; deletes take a job's share off, and a restored store
// adds up the same; the FSM's sum (specBytes) counts recorded sizes only.
func TestSpecBytesSums(t *testing.T) {
	s := New()
	at := time.Unix(1000, 0)
	plain, bounded := spec(4, 2), spec(8, 2)
	if err := s.UpsertJob(1, protocol.JobSubmit{Job: protocol.Job{ID: "plain", Spec: plain}, At: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertJob(2, protocol.JobSubmit{Job: protocol.Job{ID: "bounded", Spec: bounded, SpecBytes: 5000}, At: at, MaxSpecBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	want := SpecSize(plain) + 5000
	if got := s.SpecBytes(); got != want || s.specBytes != 5000 {
		t.Fatalf("held %d (recorded %d), want %d (recorded 5000)", got, s.specBytes, want)
	}
	restored, err := ReadSnapshot(bytes.NewReader(snapshotBytes(t, s)))
	if err != nil {
		t.Fatal(err)
	}
	if got := restored.SpecBytes(); got != want || restored.specBytes != 5000 {
		t.Fatalf("restored: held %d (recorded %d), want %d (recorded 5000)", got, restored.specBytes, want)
	}
	if err := s.CancelJob(3, protocol.JobCancel{ID: "plain", At: at}); err != nil {
		t.Fatal(err)
	}
	if deleted, err := s.DeleteJobs(4, protocol.JobDelete{IDs: []protocol.JobID{"plain"}, At: at}); err != nil || len(deleted) != 1 {
		t.Fatalf("delete: %v %v", deleted, err)
	}
	if got := s.SpecBytes(); got != 5000 {
		t.Fatalf("after deleting the plain job: %d, want 5000", got)
	}
}
