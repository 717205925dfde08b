package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// completeShards leases and completes shards [0, n) of job id as a node of
// the files layout would report them: 64 images, 3 objects each and the
// shard's stats.
func completeShards(t *testing.T, s *Store, id protocol.JobID, n int) {
	t.Helper()
	idx := s.Index()
	for i := range n {
		idx++
		at := t0.Add(time.Duration(i) * 1234567891 * time.Nanosecond)
		if g := s.AssignTasks(idx, protocol.TaskAssign{Node: "gpu-node-017", Leases: []protocol.TaskNext{lease(id, i, 1)}, At: at}); len(g) != 1 {
			t.Fatalf("shard %d not leased", i)
		}
		var keys []string
		for k := range 64 {
			for _, ext := range []string{"png", "txt", "json"} {
				keys = append(keys, fmt.Sprintf("out/%05d/%05d.%s", i, k, ext))
			}
		}
		keys = append(keys, fmt.Sprintf("out/%05d/_stats.json", i))
		idx++
		res := protocol.ShardInfo{Node: "gpu-node-017", Images: 64, Bytes: 64 * 1_572_864, Objects: keys, Seconds: 18.2345678912}
		if err := s.CompleteTask(idx, protocol.TaskComplete{TaskKey: key(id, i), Attempt: 1, Result: res, At: at}); err != nil {
			t.Fatal(err)
		}
	}
}

func snapshotBytes(t *testing.T, s *Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := s.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRaftBytesPerShard: a completed shard of 64 images costs at most 200
// bytes of Raft state (docs/scale.md), measured on the snapshot: the state
// of N completed shards minus that of the job with none, divided by N.
func TestRaftBytesPerShard(t *testing.T) {
	const shards = 500
	sp := spec(1, 64)
	sp.Prompts = protocol.PromptSource{URL: "s3://b/prompts.jsonl", Rows: shards * 64 * 2}
	s := New()
	if err := s.UpsertJob(1, protocol.JobSubmit{Job: protocol.Job{ID: "j-20261206-0123456789ab", Spec: sp}, At: t0}); err != nil {
		t.Fatal(err)
	}
	empty := len(snapshotBytes(t, s))
	completeShards(t, s, "j-20261206-0123456789ab", shards)
	full := snapshotBytes(t, s)
	perShard := float64(len(full)-empty) / shards
	t.Logf("raft_bytes_per_shard %.1f (%d shards, %d bytes)", perShard, shards, len(full)-empty)
	if perShard > 200 {
		t.Fatalf("%.1f bytes of Raft state per completed shard, want <= 200", perShard)
	}
	if strings.Contains(string(full), "_stats.json") {
		t.Fatal("the snapshot holds object keys")
	}
	tk, _ := s.TaskByKey(key("j-20261206-0123456789ab", 7))
	if r := tk.Result; r == nil || r.Objects != nil || r.ObjectCount != 193 || len(r.Digest) != 64 || r.Seconds != 18.235 {
		t.Fatalf("stored result %+v", r)
	}
	r, err := ReadSnapshot(bytes.NewReader(full))
	if err != nil {
		t.Fatal(err)
	}
	got := New()
	got.Replace(r)
	assertSameState(t, s, got)
}

// TestOldSnapshotWithObjectsLoads: a version 1 snapshot (full task records
// with object keys) loads with the keys replaced by their count and digest.
func TestOldSnapshotWithObjectsLoads(t *testing.T) {
	sp := spec(4, 2)
	job := protocol.Job{ID: "old", Spec: sp, State: protocol.JobRunning, Shards: 2, Images: 4, ShardsDone: 1, ImagesDone: 2}
	keys := []string{"o/00000/b.png", "o/00000/a.png"}
	task := protocol.Task{TaskKey: key("old", 0), Start: 0, End: 2, State: protocol.TaskDone, Attempt: 1, Assignee: "n1",
		Deadline: t0, Progress: 2, Result: &protocol.ShardInfo{Node: "n1", Images: 2, Bytes: 10, Objects: keys, Seconds: 1}}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, v := range []any{
		header{Version: 1, Index: 9, Jobs: 1},
		record{Type: "job", Job: &jobRecord{Job: job, Cursor: 1, Tasks: 1}},
		record{Type: "task", Task: &task},
	} {
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	s, err := ReadSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	tk, _ := s.TaskByKey(key("old", 0))
	want := protocol.ObjectsDigest([]string{"o/00000/a.png", "o/00000/b.png"})
	if r := tk.Result; r == nil || r.Objects != nil || r.ObjectCount != 2 || r.Digest != want {
		t.Fatalf("restored result %+v", tk.Result)
	}
	if c, _ := s.TaskCounts("old"); c.Done != 1 || c.Queued != 1 {
		t.Fatalf("counts %+v", c)
	}
	// Written again it takes the short record and reads back the same.
	assertRoundTrip(t, s)
}
