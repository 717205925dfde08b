package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// snapshotSeedStore is a store with every kind of snapshot record: queued,
// leased, progressed, failed and done tasks (short done records and full
// ones), a finished and a cancelled job, a huge sparse job, a drained node.
func snapshotSeedStore(tb testing.TB) *Store {
	tb.Helper()
	s := New()
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	// Prompts by URL keep the records short: the fuzzer minimizes every
	// new input it finds, in time that grows with the input.
	for i, j := range []struct {
		id        protocol.JobID
		rows      int64
		shardSize int
	}{{"a", 10, 2}, {"b", 7, 3}, {"c", 1, 1}, {"big", 1_000_000, 64}} {
		sp := protocol.JobSpec{Model: protocol.TinyPreset, ShardSize: j.shardSize, MaxAttempts: 2,
			Prompts: protocol.PromptSource{URL: "s3://b/p", Rows: j.rows}, Output: protocol.OutputSpec{URL: "/o/" + string(j.id)}}
		must(s.UpsertJob(uint64(1+i), protocol.JobSubmit{Job: protocol.Job{ID: j.id, Spec: sp}, At: t0}))
	}
	s.AssignTasks(5, protocol.TaskAssign{Node: "n1", Leases: []protocol.TaskNext{lease("a", 0, 1), lease("a", 2, 1), lease("a", 3, 1),
		lease("b", 0, 1), lease("b", 1, 1), lease("c", 0, 1), lease("big", 2, 1)}, At: t0})
	s.UpdateProgress(6, protocol.TaskProgress{Updates: []protocol.ProgressUpdate{{TaskKey: key("a", 0), Attempt: 1, Done: 1, Deadline: t0.Add(time.Hour)}}, At: t0})
	must(s.FailTask(7, protocol.TaskFail{TaskKey: key("a", 2), Attempt: 1, Node: "n1", Reason: "x", At: t0}))
	done := protocol.ShardInfo{Node: "n1", Images: 2, Bytes: 100, Seconds: 1.5, Digest: "abc", Objects: []string{"o/00003.tar"}}
	must(s.CompleteTask(8, protocol.TaskComplete{TaskKey: key("a", 3), Attempt: 1, Result: done, At: t0.Add(time.Minute)}))
	must(s.CompleteTask(9, protocol.TaskComplete{TaskKey: key("b", 0), Attempt: 1, Result: protocol.ShardInfo{Node: "n2", Images: 3}, At: t0}))
	must(s.CompleteTask(10, protocol.TaskComplete{TaskKey: key("c", 0), Attempt: 1, Result: protocol.ShardInfo{Node: "n1", Images: 1}, At: t0}))
	must(s.CancelJob(11, protocol.JobCancel{ID: "b", At: t0}))
	must(s.DrainNode(12, protocol.NodeDrain{Node: "n3", Drain: true, Disable: true, At: t0, Reason: "gone"}))
	return s
}

// snapshotSeeds are the seed store's snapshot, its version 1 spelling,
// truncations of it, and garbage.
func snapshotSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	var buf bytes.Buffer
	if _, err := snapshotSeedStore(tb).Snapshot().WriteTo(&buf); err != nil {
		tb.Fatal(err)
	}
	snap := buf.Bytes()
	r, err := ReadSnapshot(bytes.NewReader(snap))
	if err != nil {
		tb.Fatal(err)
	}
	if gap := restoreGap(r); gap != "" {
		tb.Fatalf("the seed store's snapshot reads back with %s", gap)
	}
	v1 := strings.Replace(string(snap), `"version":2`, `"version":1`, 1)
	seeds := [][]byte{snap, []byte(v1)}
	for _, n := range []int{len(snap) - 1, 300, 40} {
		seeds = append(seeds, snap[:n])
	}
	lines := strings.SplitAfter(string(snap), "\n")
	twice := strings.Replace(lines[0], `"jobs":4`, `"jobs":5`, 1)
	seeds = append(seeds, []byte(lines[0]+strings.Join(lines[2:], "")), // a job's tasks without it
		[]byte(twice+lines[1]+lines[1]+strings.Join(lines[2:], ""))) // a job twice
	for _, s := range []string{
		``, `{"version":99}`, `{"version":1,"jobs":2}`, `null`, `{"version":2,"jobs":0}` + "\n" + `{"type":"done","done":[0]}`,
		`{"version":1,"jobs":0}` + "\n" + `{"type":"task","task":{"job":"x","shard":0}}`,
		`{"version":2,"jobs":1}` + "\n" + `{"type":"job","job":{"job":{"id":"j","shards":2},"tasks":1}}` + "\n" +
			`{"type":"done","done":[1,1,0,1,0,0,0.5,"n",0,"",1]}`,
		`{"version":2,"jobs":1}` + "\n" + `{"type":"job","job":{"job":{"id":"j","shards":2},"tasks":1}}` + "\n" +
			`{"type":"done","done":[2,1,0,1,0,0,0.5,"n",0,"",1]}`,
		`{"version":1,"jobs":1,"nodes":{"n":{"drain":true,"since":"2026-11-26T12:00:00Z"}}}` + "\n" +
			`{"type":"job","job":{"job":{"id":"j","shards":1,"state":"running"},"tasks":1}}` + "\n" +
			`{"type":"task","task":{"job":"j","shard":0,"state":"done","result":{"node":"n","images":1,"objects":["o/1.tar"]}}}`,
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// Allocation a snapshot read may make: json decoding's per byte, the
// fixed buffers (the 64 KiB reader, the first maps), and per entry of the
// task maps sized from the job records' task counts (restoreRecord: at most
// maxTaskHint entries each, whatever the count says).
const (
	snapshotAllocPerByte  = 128
	snapshotAllocFixed    = 1 << 20
	snapshotAllocPerEntry = 64
)

// taskHints sums the task map sizes restoreRecord takes from data's job
// records (decoded as ReadSnapshot does, up to the first bad record).
func taskHints(data []byte) uint64 {
	dec := json.NewDecoder(bytes.NewReader(data))
	var h header
	if dec.Decode(&h) != nil {
		return 0
	}
	var n uint64
	for {
		var rec record
		if dec.Decode(&rec) != nil {
			return n
		}
		if rec.Type == "job" && rec.Job != nil {
			n += uint64(min(max(rec.Job.Tasks, 0), maxTaskHint))
		}
	}
}

// FuzzReadSnapshot: a snapshot from disk or another voter never panics
// ReadSnapshot, which allocates in proportion to it plus the task maps its
// job records size (at most maxTaskHint entries each); a snapshot it accepts loads
// into a Store whose jobs, tasks, queues, leases and counts are consistent,
// and whose own snapshot reads back to the same state and the same bytes.
func FuzzReadSnapshot(f *testing.F) {
	for _, s := range snapshotSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, alloc, err := readSnapshotMeasured(data)
		hints := taskHints(data)
		if limit := snapshotAllocPerByte*uint64(len(data)) + snapshotAllocFixed + snapshotAllocPerEntry*hints; alloc > limit {
			t.Fatalf("read of %d bytes (task counts %d) allocated %d (limit %d); error %v", len(data), hints, alloc, limit, err)
		}
		if err != nil {
			return
		}
		got := New()
		got.Replace(r)
		if gap := restoreGap(got); gap != "" {
			// Not a state the apply methods can reach: ReadSnapshot
			// refuses those (snapshot_check.go).
			t.Fatalf("ReadSnapshot accepted an inconsistent state: %s", gap)
		}
		checkRestored(t, got)
		checkSnapshotRoundTrip(t, got)
	})
}

func readSnapshotMeasured(data []byte) (*Store, uint64, error) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := ReadSnapshot(bytes.NewReader(data))
	runtime.ReadMemStats(&after)
	return r, after.TotalAlloc - before.TotalAlloc, err
}

// checkRestored asserts the store invariants a restored state must keep:
// each job listed once; counts not negative and adding up to the shards;
// queues holding only that job's queued shards, in range; leases only
// leased tasks of active jobs; the node controls within their bound.
func checkRestored(t *testing.T, s *Store) {
	t.Helper()
	seen := map[protocol.JobID]bool{}
	for _, j := range s.Jobs("") {
		if seen[j.ID] {
			t.Fatalf("job %q listed twice", j.ID)
		}
		seen[j.ID] = true
		c, _ := s.TaskCounts(j.ID)
		if c.Queued < 0 || c.Leased < 0 || c.Done < 0 || c.Failed < 0 || c.Queued+c.Leased+c.Done+c.Failed != j.Shards {
			t.Fatalf("job %q of %d shards counts %+v", j.ID, j.Shards, c)
		}
		for _, tk := range s.View().QueuedTasks(j.ID, 64) {
			if tk.Job != j.ID || tk.State != protocol.TaskQueued || tk.Shard < 0 || tk.Shard >= j.Shards {
				t.Fatalf("job %q of %d shards queues %+v", j.ID, j.Shards, tk)
			}
		}
		for i, tk := range s.TasksByJob(j.ID, 0, 64) {
			if tk.Job != j.ID || tk.Shard != i {
				t.Fatalf("job %q: task %d is %+v", j.ID, i, tk)
			}
		}
	}
	for _, tk := range s.LeasedTasks() {
		if j, ok := s.JobByID(tk.Job); !ok || j.State.Terminal() || tk.State != protocol.TaskLeased {
			t.Fatalf("lease of %+v (job %+v)", tk, j)
		}
	}
	if n := len(s.NodeControls()); n > protocol.MaxNodeControls {
		t.Fatalf("%d node controls", n)
	}
}

// checkSnapshotRoundTrip: s's snapshot reads back into an equal store,
// whose snapshot is byte for byte the same.
func checkSnapshotRoundTrip(t *testing.T, s *Store) {
	t.Helper()
	var first, second bytes.Buffer
	if _, err := s.Snapshot().WriteTo(&first); err != nil {
		t.Fatalf("writing the restored state: %v", err)
	}
	r, err := ReadSnapshot(bytes.NewReader(first.Bytes()))
	if err != nil {
		t.Fatalf("reading back %q: %v", first.Bytes(), err)
	}
	again := New()
	again.Replace(r)
	if _, err := again.Snapshot().WriteTo(&second); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Fatalf("snapshot changed on a round trip:\n%s\n%s", first.Bytes(), second.Bytes())
	}
	eq := func(what string, a, b any) {
		t.Helper()
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%s differs after a round trip:\n%+v\n%+v", what, a, b)
		}
	}
	eq("summary", s.Summary(), again.Summary())
	eq("leases", s.LeasesByNode(), again.LeasesByNode())
	eq("pending manifests", s.ManifestsPending(), again.ManifestsPending())
	for _, j := range s.Jobs("") {
		c1, _ := s.TaskCounts(j.ID)
		c2, _ := again.TaskCounts(j.ID)
		eq("counts of "+string(j.ID), c1, c2)
		eq("queue of "+string(j.ID), s.View().QueuedTasks(j.ID, 64), again.View().QueuedTasks(j.ID, 64))
	}
}

// restoreGap returns how s breaks an invariant the apply methods keep
// (store.go, apply.go) but ReadSnapshot does not check, or "". Each one
// leaves a job that can never finish, a queue of tasks that are not
// queued, or counts that do not add up.
func restoreGap(s *Store) string {
	if len(s.nodes) > protocol.MaxNodeControls {
		return fmt.Sprintf("%d node controls, at most %d", len(s.nodes), protocol.MaxNodeControls)
	}
	if len(s.order) != len(s.jobs) {
		return fmt.Sprintf("%d job records for %d jobs: a job listed twice", len(s.order), len(s.jobs))
	}
	for _, id := range s.order {
		if err := protocol.CheckJobID(id); err != nil {
			return fmt.Sprintf("job id %q: %v", id, err)
		}
		if gap := entryGap(s.jobs[id]); gap != "" {
			return fmt.Sprintf("job %q: %s", id, gap)
		}
	}
	return ""
}

// entryGap: the cursor within the shards, every materialized task below
// it and in a known state, the requeue set exactly the queued ones, in
// order, and the job's done count its done tasks'.
func entryGap(e *jobEntry) string {
	if e.job.Shards < 0 || e.cursor < 0 || e.cursor > e.job.Shards {
		return fmt.Sprintf("cursor %d of %d shards", e.cursor, e.job.Shards)
	}
	if !slices.IsSorted(e.requeue) || len(slices.Compact(slices.Clone(e.requeue))) != len(e.requeue) {
		return fmt.Sprintf("requeue %v not sorted and distinct", e.requeue)
	}
	queued := 0
	for k, t := range e.tasks {
		if k < 0 || k >= e.cursor {
			return fmt.Sprintf("task of shard %d outside [0, cursor %d)", k, e.cursor)
		}
		switch t.State {
		case protocol.TaskQueued:
			queued++
			if _, ok := slices.BinarySearch(e.requeue, k); !ok {
				return fmt.Sprintf("queued shard %d not in the requeue set %v", k, e.requeue)
			}
		case protocol.TaskLeased, protocol.TaskDone, protocol.TaskFailed:
		default:
			return fmt.Sprintf("shard %d in state %q", k, t.State)
		}
	}
	if queued != len(e.requeue) {
		return fmt.Sprintf("requeue set %v holds shards that are not queued tasks", e.requeue)
	}
	if e.job.ShardsDone != e.counts.Done {
		return fmt.Sprintf("shards_done %d, %d done tasks", e.job.ShardsDone, e.counts.Done)
	}
	return ""
}
