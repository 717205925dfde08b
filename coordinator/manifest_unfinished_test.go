package coordinator

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// TestManifestOfUnfinishedJob: a cancelled job gets a manifest too, one
// row per sample: "ok" for its done shard, "failed" with the last reason
// for the shard that ran out of attempts, "cancelled" for the one never
// run — whose stale stats from an earlier run are not listed. A job that
// ended before its output folder existed needs no manifest.
func TestManifestOfUnfinishedJob(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	out, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	stageShard(t, out, "j-1", 0, 1)
	stageShard(t, out, "old", 2, 1) // an earlier run's shard 2
	if _, err := storage.Publish(ctx, out, "", "old", 2, 1); err != nil {
		t.Fatal(err)
	}
	failed := protocol.Task{TaskKey: protocol.TaskKey{Job: "j-1", Shard: 1}, Start: 2, End: 4, State: protocol.TaskFailed,
		Failures: []protocol.Failure{{Attempt: 1, Reason: "oom"}, {Attempt: 2, Reason: "cuda error"}}}
	queued := protocol.Task{TaskKey: protocol.TaskKey{Job: "j-1", Shard: 2}, Start: 4, End: 6, State: protocol.TaskQueued}
	job := protocol.Job{ID: "j-1", Shards: 3, State: protocol.JobCancelled, Error: "cancelled by alice", UpdatedAt: time.Now(),
		Spec: protocol.JobSpec{Model: "Sana_600M", Output: protocol.OutputSpec{URL: dir}}}
	info, err := writeJobManifest(ctx, job, fakeTasks{doneTask(0, 1), failed, queued})
	if err != nil || info.Rows != 6 {
		t.Fatalf("manifest %+v: %v", info, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, storage.ManifestParquet))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := parquet.Read[storage.ManifestRow](bytes.NewReader(b), int64(len(b)))
	if err != nil || len(rows) != 6 {
		t.Fatalf("%d rows: %v", len(rows), err)
	}
	want := []struct{ status, reason string }{{"ok", ""}, {"ok", ""}, {"failed", "cuda error"}, {"failed", "cuda error"},
		{"cancelled", "cancelled by alice"}, {"cancelled", "cancelled by alice"}}
	for i, r := range rows {
		if r.Index != int64(i) || r.Job != "j-1" || r.Status != want[i].status || r.Reason != want[i].reason {
			t.Errorf("row %d: %+v, want %+v", i, r, want[i])
		}
	}
	gone := job
	gone.Spec.Output.URL = filepath.Join(dir, "never-created")
	if info, err := writeJobManifest(ctx, gone, fakeTasks{failed}); err != nil || info.Rows != 0 {
		t.Fatalf("job without output: %+v %v", info, err)
	}
}
