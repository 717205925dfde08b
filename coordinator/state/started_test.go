package state

import (
	"bytes"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestStartedAt: a job's run starts at its first lease, not at submit;
// later leases keep it; a retry of the failed job starts a new run at its
// next lease, counting the images done before as StartedImages; both
// survive a snapshot round trip.
func TestStartedAt(t *testing.T) {
	s := seeded(t) // "a": 5 shards of 2, MaxAttempts 2
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	assign := func(idx uint64, shard, attempt, h int) {
		t.Helper()
		if g := s.AssignTasks(idx, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{lease("a", shard, attempt)}, At: at(h)}); len(g) != 1 {
			t.Fatalf("lease of shard %d attempt %d not granted", shard, attempt)
		}
	}
	complete := func(idx uint64, shard, attempt, h int) {
		t.Helper()
		if err := s.CompleteTask(idx, protocol.TaskComplete{TaskKey: key("a", shard), Attempt: attempt,
			Result: protocol.ShardInfo{Node: "n1", Images: 2}, At: at(h)}); err != nil {
			t.Fatal(err)
		}
	}
	fail := func(idx uint64, shard, attempt, h int) {
		t.Helper()
		if err := s.FailTask(idx, protocol.TaskFail{TaskKey: key("a", shard), Attempt: attempt, Node: "n1", Reason: "oom", At: at(h)}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name      string
		do        func()
		state     protocol.JobState
		started   time.Time
		startedIm int64
	}{
		{"queued", func() {}, protocol.JobQueued, time.Time{}, 0},
		{"first lease, an hour after submit", func() { assign(2, 0, 1, 1) }, protocol.JobRunning, at(1), 0},
		{"a later lease keeps it", func() { assign(3, 1, 1, 2) }, protocol.JobRunning, at(1), 0},
		{"images done", func() { complete(4, 0, 1, 2); complete(5, 1, 1, 2) }, protocol.JobRunning, at(1), 0},
		{"attempts exhausted", func() { assign(6, 2, 1, 3); fail(7, 2, 1, 3); assign(8, 2, 2, 3); fail(9, 2, 2, 3) },
			protocol.JobFailed, at(1), 0},
		{"retried: a new run, not started yet", func() {
			if err := s.RetryJob(10, protocol.JobRetry{ID: "a", At: at(5)}); err != nil {
				t.Fatal(err)
			}
		}, protocol.JobRunning, time.Time{}, 0},
		{"the new run's first lease", func() { assign(11, 2, 3, 7) }, protocol.JobRunning, at(7), 4},
	}
	for _, st := range steps {
		st.do()
		j, _ := s.JobByID("a")
		if j.State != st.state || !j.StartedAt.Equal(st.started) || j.StartedImages != st.startedIm {
			t.Fatalf("%s: state %s started %v with %d images, want %s %v %d", st.name, j.State, j.StartedAt, j.StartedImages,
				st.state, st.started, st.startedIm)
		}
	}
	assertRoundTrip(t, s)
	r := New()
	r.Replace(mustRead(t, s))
	if j, _ := r.JobByID("a"); !j.StartedAt.Equal(at(7)) || j.StartedImages != 4 {
		t.Fatalf("restored started %v with %d images", j.StartedAt, j.StartedImages)
	}
}

func mustRead(t *testing.T, s *Store) *Store {
	t.Helper()
	r, err := ReadSnapshot(bytes.NewReader(snapshotBytes(t, s)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}
