package state

import (
	"bytes"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

var outputSeq atomic.Int64

func spec(prompts, shardSize int) protocol.JobSpec {
	inline := make([]string, prompts)
	for i := range inline {
		inline[i] = fmt.Sprintf("prompt %d", i)
	}
	// Each spec names its own output: an output belongs to one active job.
	return protocol.JobSpec{Model: protocol.TinyPreset, Seed: 7, ShardSize: shardSize, MaxAttempts: 2,
		Prompts: protocol.PromptSource{Inline: inline}, Output: protocol.OutputSpec{URL: fmt.Sprintf("/tmp/out/%d", outputSeq.Add(1))}}
}

func key(j protocol.JobID, s int) protocol.TaskKey { return protocol.TaskKey{Job: j, Shard: s} }

func lease(j protocol.JobID, s, attempt int) protocol.TaskNext {
	return protocol.TaskNext{TaskKey: key(j, s), Attempt: attempt, Deadline: t0.Add(time.Minute)}
}

// seeded returns a store with job "a" (10 samples in 5 shards of 2).
func seeded(t *testing.T) *Store {
	t.Helper()
	s := New()
	if err := s.UpsertJob(1, protocol.JobSubmit{Job: protocol.Job{ID: "a", Spec: spec(10, 2)}, At: t0}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJobLifecycle(t *testing.T) {
	s := seeded(t)
	j, _ := s.JobByID("a")
	if j.State != protocol.JobQueued || j.Shards != 5 || j.Images != 10 || !j.CreatedAt.Equal(t0) {
		t.Fatalf("submitted job %+v", j)
	}
	if got := s.AssignTasks(2, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{lease("a", 0, 1), lease("a", 1, 1)}, At: t0}); len(got) != 2 {
		t.Fatalf("granted %d leases", len(got))
	}
	if got := s.AssignTasks(3, protocol.TaskAssign{Node: "n2", Leases: []protocol.TaskNext{lease("a", 0, 1), lease("a", 2, 5)}, At: t0}); len(got) != 0 {
		t.Fatalf("granted a leased task or a wrong attempt: %v", got)
	}
	if n := s.UpdateProgress(4, protocol.TaskProgress{Updates: []protocol.ProgressUpdate{
		{TaskKey: key("a", 0), Attempt: 1, Done: 1, Deadline: t0.Add(2 * time.Minute)},
		{TaskKey: key("a", 1), Attempt: 9, Done: 1}}, At: t0}); n != 1 {
		t.Fatalf("applied %d progress updates, want 1 (one stale)", n)
	}
	if tk, _ := s.TaskByKey(key("a", 0)); tk.Progress != 1 || !tk.Deadline.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("progress not applied: %+v", tk)
	}
	err := s.CompleteTask(5, protocol.TaskComplete{TaskKey: key("a", 0), Attempt: 2, Result: protocol.ShardInfo{Images: 2}, At: t0})
	if protocol.CodeOf(err) != protocol.CodeStaleAttempt {
		t.Fatalf("stale completion: %v", err)
	}
	if err := s.FailTask(6, protocol.TaskFail{TaskKey: key("a", 1), Attempt: 1, Reason: "lease expired", At: t0}); err != nil {
		t.Fatal(err)
	}
	if tk, _ := s.TaskByKey(key("a", 1)); tk.State != protocol.TaskQueued || tk.Attempt != 1 || len(tk.Failures) != 1 || tk.Failures[0].Node != "n1" {
		t.Fatalf("failed task %+v", tk)
	}
	if got := s.View().FailuresOn("a", "n1"); got != 1 {
		t.Fatalf("FailuresOn = %d", got)
	}
	// Queue order: requeued shard 1 before the cursor range 2..4.
	if q := s.View().QueuedTasks("a", 10); len(q) != 4 || q[0].Shard != 1 || q[1].Shard != 2 || q[3].Shard != 4 {
		t.Fatalf("queued %v", q)
	}
	completeAll(t, s, "a")
	j, _ = s.JobByID("a")
	c, _ := s.TaskCounts("a")
	if j.State != protocol.JobDone || j.ShardsDone != 5 || j.ImagesDone != 10 || c.Done != 5 || c.Leased != 0 || c.Queued != 0 {
		t.Fatalf("job %+v counts %+v", j, c)
	}
	if st := s.Stats(); st.Completions != 5 || st.Retries != 1 || st.ImagesDone != 10 {
		t.Fatalf("stats %+v", st)
	}
	if len(s.View().ActiveJobs()) != 0 {
		t.Fatal("done job still active")
	}
}

// completeAll leases every queued task (and completes every leased one).
func completeAll(t *testing.T, s *Store, id protocol.JobID) {
	t.Helper()
	idx := s.Index()
	for _, tk := range s.View().QueuedTasks(id, 1<<20) {
		idx++
		s.AssignTasks(idx, protocol.TaskAssign{Node: "n3", Leases: []protocol.TaskNext{lease(id, tk.Shard, tk.Attempt+1)}, At: t0})
	}
	for _, tk := range s.LeasedTasks() {
		idx++
		if err := s.CompleteTask(idx, protocol.TaskComplete{TaskKey: tk.TaskKey, Attempt: tk.Attempt,
			Result: protocol.ShardInfo{Node: tk.Assignee, Images: int(tk.End - tk.Start)}, At: t0}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAttemptsExhaustedFailJob(t *testing.T) {
	s := seeded(t)
	for attempt := 1; attempt <= 2; attempt++ {
		s.AssignTasks(uint64(attempt*2), protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{lease("a", 3, attempt)}, At: t0})
		if err := s.FailTask(uint64(attempt*2+1), protocol.TaskFail{TaskKey: key("a", 3), Attempt: attempt, Node: "n1", Reason: "oom", At: t0}); err != nil {
			t.Fatal(err)
		}
	}
	j, _ := s.JobByID("a")
	if tk, _ := s.TaskByKey(key("a", 3)); j.State != protocol.JobFailed || tk.State != protocol.TaskFailed || j.Error == "" {
		t.Fatalf("job %+v task %+v", j, tk)
	}
	if err := s.CancelJob(9, protocol.JobCancel{ID: "a", At: t0}); protocol.CodeOf(err) != protocol.CodeConflict {
		t.Fatalf("cancel of a failed job: %v", err)
	}
}

func TestCancel(t *testing.T) {
	s := seeded(t)
	s.AssignTasks(2, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{lease("a", 0, 1)}, At: t0})
	if err := s.CancelJob(3, protocol.JobCancel{ID: "a", Reason: "user", At: t0}); err != nil {
		t.Fatal(err)
	}
	if len(s.LeasedTasks()) != 0 || len(s.View().QueuedTasks("a", 5)) != 0 {
		t.Fatal("cancelled job keeps leases or queue")
	}
	err := s.CompleteTask(4, protocol.TaskComplete{TaskKey: key("a", 0), Attempt: 1, At: t0})
	if protocol.CodeOf(err) != protocol.CodeConflict {
		t.Fatalf("completion of a cancelled job: %v", err)
	}
	if err := s.CancelJob(5, protocol.JobCancel{ID: "zz", At: t0}); protocol.CodeOf(err) != protocol.CodeNotFound {
		t.Fatalf("cancel unknown: %v", err)
	}
}

// TestHugeJobIsSparse: a 15625-shard job submits without materializing
// tasks, and leasing out of order keeps shard order in the queue.
func TestHugeJobIsSparse(t *testing.T) {
	s := New()
	sp := spec(1, 64)
	sp.Prompts = protocol.PromptSource{URL: "s3://b/prompts.jsonl", Rows: 1_000_000}
	if err := s.UpsertJob(1, protocol.JobSubmit{Job: protocol.Job{ID: "big", Spec: sp}, At: t0}); err != nil {
		t.Fatal(err)
	}
	if n := len(s.jobs["big"].tasks); n != 0 {
		t.Fatalf("%d tasks materialized at submit", n)
	}
	if c, _ := s.TaskCounts("big"); c.Queued != 15625 {
		t.Fatalf("counts %+v", c)
	}
	if tk, _ := s.TaskByKey(key("big", 15624)); tk.Start != 15624*64 || tk.End != 1_000_000 {
		t.Fatalf("last task %+v", tk)
	}
	s.AssignTasks(2, protocol.TaskAssign{Node: "n", Leases: []protocol.TaskNext{lease("big", 3, 1)}, At: t0})
	q := s.View().QueuedTasks("big", 5)
	if want := []int{0, 1, 2, 4, 5}; len(q) != 5 || q[0].Shard != want[0] || q[3].Shard != want[3] || q[4].Shard != want[4] {
		t.Fatalf("queue after out-of-order lease: %v", q)
	}
}

// TestSnapshotIsImmutable: writes after Snapshot do not show in it.
func TestSnapshotIsImmutable(t *testing.T) {
	s := seeded(t)
	s.AssignTasks(2, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{lease("a", 0, 1)}, At: t0})
	snap := s.Snapshot()
	var before bytes.Buffer
	if _, err := snap.WriteTo(&before); err != nil {
		t.Fatal(err)
	}
	completeAll(t, s, "a")
	if err := s.UpsertJob(99, protocol.JobSubmit{Job: protocol.Job{ID: "b", Spec: spec(3, 1)}, At: t0}); err != nil {
		t.Fatal(err)
	}
	var after bytes.Buffer
	if _, err := snap.WriteTo(&after); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before.Bytes(), after.Bytes()) {
		t.Fatalf("snapshot changed by later writes:\n%s\n---\n%s", before.String(), after.String())
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := seeded(t)
	if err := s.UpsertJob(2, protocol.JobSubmit{Job: protocol.Job{ID: "b", Spec: spec(7, 3)}, At: t0}); err != nil {
		t.Fatal(err)
	}
	s.AssignTasks(3, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{lease("a", 0, 1), lease("a", 2, 1), lease("b", 0, 1)}, At: t0})
	s.UpdateProgress(4, protocol.TaskProgress{Updates: []protocol.ProgressUpdate{{TaskKey: key("a", 0), Attempt: 1, Done: 1, Deadline: t0.Add(time.Hour)}}, At: t0})
	_ = s.FailTask(5, protocol.TaskFail{TaskKey: key("a", 2), Attempt: 1, Node: "n1", Reason: "x", At: t0})
	_ = s.CompleteTask(6, protocol.TaskComplete{TaskKey: key("b", 0), Attempt: 1, Result: protocol.ShardInfo{Node: "n1", Images: 3, Objects: []string{"o/00000.tar"}}, At: t0})
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
}

func assertSameState(t *testing.T, want, got *Store) {
	t.Helper()
	eq := func(what string, a, b any) {
		t.Helper()
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s differs:\nwant %+v\n got %+v", what, a, b)
		}
	}
	eq("index", want.Index(), got.Index())
	eq("stats", want.Stats(), got.Stats())
	eq("jobs", want.Jobs(""), got.Jobs(""))
	eq("leases", want.LeasesByNode(), got.LeasesByNode())
	eq("summary", want.Summary(), got.Summary())
	for _, j := range want.Jobs("") {
		eq("tasks of "+string(j.ID), want.TasksByJob(j.ID, 0, 0), got.TasksByJob(j.ID, 0, 0))
		eq("queue of "+string(j.ID), want.View().QueuedTasks(j.ID, 100), got.View().QueuedTasks(j.ID, 100))
		c1, _ := want.TaskCounts(j.ID)
		c2, _ := got.TaskCounts(j.ID)
		eq("counts of "+string(j.ID), c1, c2)
		eq("failures of "+string(j.ID), want.View().FailuresOn(j.ID, "n1"), got.View().FailuresOn(j.ID, "n1"))
	}
}

func TestReadSnapshotRejectsGarbage(t *testing.T) {
	for name, in := range map[string]string{
		"empty":   "",
		"version": `{"version":99}`,
		"orphan":  `{"version":1,"jobs":0}` + "\n" + `{"type":"task","task":{"job":"x","shard":0}}`,
		"count":   `{"version":1,"jobs":2}`,
	} {
		if _, err := ReadSnapshot(bytes.NewBufferString(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
