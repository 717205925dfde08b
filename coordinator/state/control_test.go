package state

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// checkCounts verifies a job's counts against its tasks and lease index:
// they must stay right after every transition.
func checkCounts(t *testing.T, s *Store, id protocol.JobID) TaskCounts {
	t.Helper()
	var want TaskCounts
	for _, tk := range s.TasksByJob(id, 0, 0) {
		switch tk.State {
		case protocol.TaskQueued:
			want.Queued++
		case protocol.TaskLeased:
			want.Leased++
		case protocol.TaskDone:
			want.Done++
		case protocol.TaskFailed:
			want.Failed++
		}
	}
	got, _ := s.TaskCounts(id)
	j, _ := s.JobByID(id)
	if got != want || j.ShardsDone != got.Done || s.View().LeasedCount(id) != got.Leased {
		t.Fatalf("job %s counts %+v, tasks say %+v (shards done %d, lease index %d)", id, got, want, j.ShardsDone, s.View().LeasedCount(id))
	}
	if n := len(s.View().QueuedTasks(id, 1<<20)); !j.State.Terminal() && n != got.Queued {
		t.Fatalf("job %s: %d queued tasks listed, counts say %d", id, n, got.Queued)
	}
	return got
}

// TestFinishReleasesLeases is the leased-count bug: a cancelled (or
// failed) job kept its leased shards counted as leased forever.
func TestFinishReleasesLeases(t *testing.T) {
	for _, tc := range []struct {
		name   string
		finish func(s *Store) error
		state  protocol.JobState
	}{
		{"cancel", func(s *Store) error { return s.CancelJob(10, protocol.JobCancel{ID: "a", At: t0}) }, protocol.JobCancelled},
		{"fail stuck", func(s *Store) error { return s.CancelJob(10, protocol.JobCancel{ID: "a", Failed: true, At: t0}) }, protocol.JobFailed},
		{"attempts exhausted", func(s *Store) error {
			for a := 1; a <= 2; a++ {
				s.AssignTasks(uint64(10+2*a), protocol.TaskAssign{Node: "n2", Leases: []protocol.TaskNext{lease("a", 3, a)}, At: t0})
				if err := s.FailTask(uint64(11+2*a), protocol.TaskFail{TaskKey: key("a", 3), Attempt: a, Node: "n2", Reason: "oom", At: t0}); err != nil {
					return err
				}
			}
			return nil
		}, protocol.JobFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := seeded(t)
			s.AssignTasks(2, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{lease("a", 0, 1), lease("a", 1, 1)}, At: t0})
			s.UpdateProgress(3, protocol.TaskProgress{Updates: []protocol.ProgressUpdate{{TaskKey: key("a", 0), Attempt: 1, Done: 1}}, At: t0})
			if err := tc.finish(s); err != nil {
				t.Fatal(err)
			}
			j, _ := s.JobByID("a")
			c := checkCounts(t, s, "a")
			if j.State != tc.state || c.Leased != 0 || s.Summary().Tasks.Leased != 0 || j.ImagesDone != 0 {
				t.Fatalf("job %s images %d counts %+v summary %+v", j.State, j.ImagesDone, c, s.Summary().Tasks)
			}
			if tk, _ := s.TaskByKey(key("a", 0)); tk.State != protocol.TaskQueued || tk.Attempt != 1 || tk.Assignee != "" {
				t.Fatalf("a cancelled lease's task: %+v", tk)
			}
			assertRoundTrip(t, s)
		})
	}
}

func assertRoundTrip(t *testing.T, s *Store) {
	t.Helper()
	var buf bytes.Buffer
	if _, err := s.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := ReadSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	got := New()
	got.Replace(r)
	assertSameState(t, s, got)
	if want, have := s.NodeControls(), got.NodeControls(); len(want) != len(have) {
		t.Fatalf("node controls %v, restored %v", want, have)
	}
}

// TestRestoreRequeuesOldLeases: a snapshot written before the fix holds a
// finished job's leased task; restoring it counts the task queued.
func TestRestoreRequeuesOldLeases(t *testing.T) {
	s := seeded(t)
	s.AssignTasks(2, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{lease("a", 0, 1)}, At: t0})
	snap := s.Snapshot()
	e := snap.jobs["a"].clone(snap.jobs["a"].gen)
	e.job.State, e.leased = protocol.JobCancelled, map[int]struct{}{} // as the old finish left it
	snap.jobs["a"] = e
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := ReadSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if c := checkCounts(t, r, "a"); c.Leased != 0 || c.Queued != 5 {
		t.Fatalf("restored counts %+v", c)
	}
}

func TestControlCommands(t *testing.T) {
	prio := func(s *Store) error { return s.SetPriority(20, protocol.JobPriority{ID: "a", Priority: 7, At: t0}) }
	for _, tc := range []struct {
		name  string
		setup func(s *Store) // before the command
		cmd   func(s *Store) error
		code  protocol.Code // "" = success
		check func(t *testing.T, j protocol.Job)
	}{
		{name: "pause", cmd: func(s *Store) error { return s.PauseJob(20, protocol.JobPause{ID: "a", Paused: true, At: t0}) },
			check: func(t *testing.T, j protocol.Job) {
				if !j.Paused || j.Schedulable() {
					t.Fatalf("paused job %+v", j)
				}
			}},
		{name: "resume", setup: func(s *Store) { _ = s.PauseJob(10, protocol.JobPause{ID: "a", Paused: true, At: t0}) },
			cmd: func(s *Store) error { return s.PauseJob(20, protocol.JobPause{ID: "a", At: t0}) },
			check: func(t *testing.T, j protocol.Job) {
				if j.Paused || !j.Schedulable() {
					t.Fatalf("resumed job %+v", j)
				}
			}},
		{name: "pause finished", setup: func(s *Store) { completeAll(t, s, "a") },
			cmd: func(s *Store) error { return s.PauseJob(20, protocol.JobPause{ID: "a", Paused: true, At: t0}) }, code: protocol.CodeConflict},
		{name: "pause unknown", cmd: func(s *Store) error { return s.PauseJob(20, protocol.JobPause{ID: "zz", Paused: true, At: t0}) },
			code: protocol.CodeNotFound},
		{name: "priority", cmd: prio, check: func(t *testing.T, j protocol.Job) {
			if j.EffectivePriority() != 7 || j.Spec.Priority != 0 {
				t.Fatalf("priority %d, spec %d", j.EffectivePriority(), j.Spec.Priority)
			}
		}},
		{name: "priority of a finished job", setup: func(s *Store) { completeAll(t, s, "a") }, cmd: prio},
		{name: "priority unknown", cmd: func(s *Store) error { return s.SetPriority(20, protocol.JobPriority{ID: "zz", At: t0}) },
			code: protocol.CodeNotFound},
		{name: "retry done job", setup: func(s *Store) { completeAll(t, s, "a") },
			cmd: func(s *Store) error { return s.RetryJob(20, protocol.JobRetry{ID: "a", At: t0}) }, code: protocol.CodeConflict},
		{name: "retry cancelled job", setup: func(s *Store) { _ = s.CancelJob(10, protocol.JobCancel{ID: "a", At: t0}) },
			cmd: func(s *Store) error { return s.RetryJob(20, protocol.JobRetry{ID: "a", At: t0}) }, code: protocol.CodeConflict},
		{name: "retry running job without failures",
			cmd: func(s *Store) error { return s.RetryJob(20, protocol.JobRetry{ID: "a", At: t0}) }, code: protocol.CodeConflict},
		{name: "retry job failed as stuck", setup: func(s *Store) { _ = s.CancelJob(10, protocol.JobCancel{ID: "a", Failed: true, At: t0}) },
			cmd: func(s *Store) error { return s.RetryJob(20, protocol.JobRetry{ID: "a", At: t0}) },
			check: func(t *testing.T, j protocol.Job) {
				if j.State != protocol.JobQueued || j.Error != "" || j.Retries != 1 {
					t.Fatalf("retried job %+v", j)
				}
			}},
		{name: "delete active", cmd: func(s *Store) error {
			_, err := s.DeleteJobs(20, protocol.JobDelete{IDs: []protocol.JobID{"a"}, At: t0})
			return err
		},
			code: protocol.CodeConflict},
		{name: "delete unknown", cmd: func(s *Store) error {
			_, err := s.DeleteJobs(20, protocol.JobDelete{IDs: []protocol.JobID{"zz"}, At: t0})
			return err
		},
			code: protocol.CodeNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := seeded(t)
			if tc.setup != nil {
				tc.setup(s)
			}
			err := tc.cmd(s)
			if (tc.code == "") != (err == nil) || (err != nil && protocol.CodeOf(err) != tc.code) {
				t.Fatalf("err %v, want code %q", err, tc.code)
			}
			if s.Index() != 20 {
				t.Fatalf("index %d after the command", s.Index())
			}
			j, _ := s.JobByID("a")
			checkCounts(t, s, "a")
			if tc.check != nil {
				tc.check(t, j)
			}
			assertRoundTrip(t, s)
		})
	}
}

// TestRetryFailedShard: the failed shard is queued again with its attempt
// kept, so the next lease is a fresh attempt; the old attempt stays
// fenced; earlier failures no longer count toward MaxAttempts.
func TestRetryFailedShard(t *testing.T) {
	s := seeded(t)
	completeAll(t, s, "a") // then make shard 3 fail in a fresh job
	if err := s.UpsertJob(30, protocol.JobSubmit{Job: protocol.Job{ID: "b", Spec: spec(10, 2)}, At: t0}); err != nil {
		t.Fatal(err)
	}
	if j, _ := s.JobByID("b"); !j.RunSince.Equal(t0) {
		t.Fatalf("a submitted job's run began %v, want the submit's %v", j.RunSince, t0)
	}
	idx := uint64(30)
	for a := 1; a <= 2; a++ {
		idx += 2
		s.AssignTasks(idx, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{lease("b", 3, a), lease("b", a-1, 1)}, At: t0})
		if err := s.FailTask(idx+1, protocol.TaskFail{TaskKey: key("b", 3), Attempt: a, Node: "n1", Reason: "oom", At: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if j, _ := s.JobByID("b"); j.State != protocol.JobFailed || checkCounts(t, s, "b").Failed != 1 {
		t.Fatalf("job %+v", j)
	}
	if err := s.RetryJob(40, protocol.JobRetry{ID: "b", At: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	j, _ := s.JobByID("b")
	c := checkCounts(t, s, "b")
	tk, _ := s.TaskByKey(key("b", 3))
	if j.State != protocol.JobQueued || c.Failed != 0 || c.Queued != 5 || tk.Attempt != 2 || tk.CountedFailures() != 0 || len(tk.Failures) != 2 {
		t.Fatalf("after retry: job %s counts %+v task %+v", j.State, c, tk)
	}
	if !j.RunSince.Equal(t0.Add(time.Minute)) {
		t.Fatalf("a retried job's run began %v, want the retry's %v (its timeout counts from it)", j.RunSince, t0.Add(time.Minute))
	}
	if s.View().FailuresOn("b", "n1") != 0 {
		t.Fatal("retry keeps the blocklist")
	}
	if _, pending := s.unmanifested["b"]; pending || !j.ManifestAt.IsZero() {
		t.Fatal("a retried job's manifest is still pending or recorded")
	}
	if got := s.AssignTasks(41, protocol.TaskAssign{Node: "n2", Leases: []protocol.TaskNext{lease("b", 3, 2)}, At: t0}); len(got) != 0 {
		t.Fatal("the failed attempt was leased again")
	}
	if got := s.AssignTasks(42, protocol.TaskAssign{Node: "n2", Leases: []protocol.TaskNext{lease("b", 3, 3)}, At: t0}); len(got) != 1 {
		t.Fatal("the fresh attempt was not leased")
	}
	if err := s.CompleteTask(43, protocol.TaskComplete{TaskKey: key("b", 3), Attempt: 2, At: t0}); protocol.CodeOf(err) != protocol.CodeStaleAttempt {
		t.Fatalf("old attempt's completion: %v", err)
	}
	if err := s.FailTask(44, protocol.TaskFail{TaskKey: key("b", 3), Attempt: 3, Node: "n2", Reason: "again", At: t0}); err != nil {
		t.Fatal(err)
	}
	if j, _ := s.JobByID("b"); j.State.Terminal() {
		t.Fatalf("one failure after the retry failed the job: %s", j.Error)
	}
	checkCounts(t, s, "b")
	completeAll(t, s, "b")
	if j, _ := s.JobByID("b"); j.State != protocol.JobDone {
		t.Fatalf("retried job ends %s", j.State)
	}
	checkCounts(t, s, "b")
}

func TestDeleteAndCollect(t *testing.T) {
	s := New()
	ids := []protocol.JobID{"j1", "j2", "j3", "j4"}
	for i, id := range ids {
		at := t0.Add(time.Duration(i) * time.Hour)
		if err := s.UpsertJob(uint64(i+1), protocol.JobSubmit{Job: protocol.Job{ID: id, Spec: spec(2, 2)}, At: at}); err != nil {
			t.Fatal(err)
		}
		if id == "j4" {
			continue // stays active
		}
		if err := s.CancelJob(uint64(10+i), protocol.JobCancel{ID: id, At: at}); err != nil {
			t.Fatal(err)
		}
		if id != "j3" { // j3's manifest is pending
			if err := s.RecordManifest(uint64(20+i), protocol.JobManifest{ID: id, At: at}); err != nil {
				t.Fatal(err)
			}
		}
	}
	now := t0.Add(10 * time.Hour)
	for _, tc := range []struct {
		r    Retention
		want []protocol.JobID
	}{
		{Retention{}, nil},
		{Retention{Age: 9*time.Hour + 30*time.Minute}, []protocol.JobID{"j1"}},
		{Retention{Age: time.Hour}, []protocol.JobID{"j1", "j2"}}, // j3: manifest pending
		{Retention{Count: 1}, []protocol.JobID{"j1", "j2"}},
		{Retention{Count: 3}, nil},
	} {
		if got := s.Collectable(tc.r, now); !equalIDs(got, tc.want) {
			t.Errorf("Collectable(%+v) = %v, want %v", tc.r, got, tc.want)
		}
	}
	deleted, err := s.DeleteJobs(30, protocol.JobDelete{IDs: []protocol.JobID{"j1", "j4", "zz", "j2"}, At: now})
	if !equalIDs(deleted, []protocol.JobID{"j1", "j2"}) || protocol.CodeOf(err) != protocol.CodeConflict {
		t.Fatalf("deleted %v err %v", deleted, err)
	}
	if got := s.Jobs(""); len(got) != 2 || got[0].ID != "j3" || got[1].ID != "j4" {
		t.Fatalf("jobs left %v", got)
	}
	if s.Summary().Jobs[protocol.JobCancelled] != 1 {
		t.Fatalf("summary %+v", s.Summary())
	}
	assertRoundTrip(t, s)
}

func equalIDs(a, b []protocol.JobID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDrainNode(t *testing.T) {
	s := New()
	snap := s.Snapshot()
	s.DrainNode(1, protocol.NodeDrain{Node: "n1", Drain: true, At: t0})
	s.DrainNode(2, protocol.NodeDrain{Node: "n2", Disable: true, At: t0})
	if c, ok := s.NodeControl("n1"); !ok || !c.Drain || c.Disable {
		t.Fatalf("n1 %+v", c)
	}
	if c, ok := s.NodeControl("n2"); !ok || !c.Drain || !c.Disable {
		t.Fatalf("n2 (disable implies drain) %+v", c)
	}
	// An automatic drain keeps the operator's control of a drained node,
	// and its reason survives a snapshot.
	s.DrainNode(2, protocol.NodeDrain{Node: "n2", Drain: true, Auto: true, Reason: "auto", At: t0.Add(time.Second)})
	if c, _ := s.NodeControl("n2"); !c.Disable || c.Auto || !c.Since.Equal(t0) {
		t.Fatalf("n2 after an automatic drain %+v, want the operator's disable", c)
	}
	s.DrainNode(2, protocol.NodeDrain{Node: "n3", Drain: true, Auto: true, Reason: "auto: 3 in a row", At: t0})
	if c, _ := s.NodeControl("n3"); !c.Drain || !c.Auto || c.Reason != "auto: 3 in a row" {
		t.Fatalf("n3 %+v", c)
	}
	assertRoundTrip(t, s)
	s.DrainNode(3, protocol.NodeDrain{Node: "n3", At: t0})
	s.DrainNode(3, protocol.NodeDrain{Node: "n1", At: t0})
	if _, ok := s.NodeControl("n1"); ok || len(s.NodeControls()) != 1 {
		t.Fatalf("undrained n1 still controlled: %v", s.NodeControls())
	}
	if len(snap.nodes) != 0 {
		t.Fatal("a drain changed an earlier snapshot")
	}
}

// TestAssignRefusedAfterControl: a lease picked before a pause or a drain
// commits after it and is refused by the FSM.
func TestAssignRefusedAfterControl(t *testing.T) {
	s := seeded(t)
	if err := s.PauseJob(2, protocol.JobPause{ID: "a", Paused: true, At: t0}); err != nil {
		t.Fatal(err)
	}
	if got := s.AssignTasks(3, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{lease("a", 0, 1)}, At: t0}); len(got) != 0 {
		t.Fatal("paused job leased")
	}
	_ = s.PauseJob(4, protocol.JobPause{ID: "a", At: t0})
	s.DrainNode(5, protocol.NodeDrain{Node: "n2", Drain: true, At: t0})
	for _, c := range []protocol.TaskAssign{
		{Node: "n2", Leases: []protocol.TaskNext{lease("a", 0, 1)}, At: t0},
		{Node: "n1", Peers: []string{"n1", "n2"}, Leases: []protocol.TaskNext{lease("a", 0, 1)}, At: t0},
	} {
		if got := s.AssignTasks(6, c); len(got) != 0 {
			t.Fatalf("drained node leased: %+v", c)
		}
	}
	if got := s.AssignTasks(7, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{lease("a", 0, 1)}, At: t0}); len(got) != 1 {
		t.Fatal("resumed job on a schedulable node not leased")
	}
	checkCounts(t, s, "a")
}

// TestDrainNodeBounded: drains of new nodes stop being recorded at
// protocol.MaxNodeControls; known nodes can still be changed and undrained.
func TestDrainNodeBounded(t *testing.T) {
	s := New()
	for i := range protocol.MaxNodeControls { // as DrainNode would, without its copy per drain
		s.nodes[fmt.Sprintf("n%d", i)] = protocol.NodeControl{Drain: true, Since: t0}
	}
	err := s.DrainNode(20000, protocol.NodeDrain{Node: "one-more", Drain: true, At: t0})
	if protocol.CodeOf(err) != protocol.CodeConflict || !strings.Contains(err.Error(), "undrain nodes that are gone") {
		t.Errorf("drain of one node too many: %v, want a conflict saying what to do", err)
	}
	if _, ok := s.NodeControl("one-more"); ok || len(s.NodeControls()) != protocol.MaxNodeControls {
		t.Fatalf("%d controls, one-more recorded %v", len(s.NodeControls()), ok)
	}
	s.DrainNode(20001, protocol.NodeDrain{Node: "n7", Disable: true, At: t0})
	if c, _ := s.NodeControl("n7"); !c.Disable {
		t.Errorf("a known node's drain could not become a disable: %+v", c)
	}
	s.DrainNode(20002, protocol.NodeDrain{Node: "n8", At: t0})
	if err := s.DrainNode(20003, protocol.NodeDrain{Node: "one-more", Drain: true, At: t0}); err != nil {
		t.Error(err)
	}
	if _, ok := s.NodeControl("one-more"); !ok {
		t.Error("no room after an undrain")
	}
}
