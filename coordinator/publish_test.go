package coordinator

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// fakeTasks is a job's tasks as the state store would list them.
type fakeTasks []protocol.Task

func (f fakeTasks) TasksByJob(_ protocol.JobID, from, limit int) []protocol.Task {
	if from >= len(f) {
		return nil
	}
	return f[from:min(from+limit, len(f))]
}

// stageShard writes a 2-sample shard as a node's attempt does: staged.
func stageShard(t *testing.T, s storage.Store, job protocol.JobID, shard, attempt int) {
	t.Helper()
	ctx := context.Background()
	w, err := storage.NewShardWriter(storage.Stage(s, "", storage.AttemptPrefix("", string(job), shard, attempt)), "", "", shard)
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(2 * shard); i < int64(2*shard+2); i++ {
		if err := w.Write(ctx, storage.Sample{Index: i, Prompt: "p", PNG: fmt.Appendf(nil, "png %d attempt %d", i, attempt),
			Meta: map[string]int{"attempt": attempt}, Width: 8, Height: 8}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Finish(ctx, storage.ShardStats{Job: string(job), Attempt: attempt, Node: fmt.Sprint("n", attempt)}); err != nil {
		t.Fatal(err)
	}
}

func doneTask(shard, attempt int) protocol.Task {
	return protocol.Task{TaskKey: protocol.TaskKey{Job: "j-1", Shard: shard}, State: protocol.TaskDone, Attempt: attempt,
		Result: &protocol.ShardInfo{Images: 2}}
}

// TestManifestPublishesAcceptedAttempts: before the manifest, the leader
// publishes shard 0 from its accepted attempt 2 (its node died after the
// acceptance) while the fenced attempt 1 staged late; shard 1, which its
// node published, is left as is. The manifest lists the accepted bytes,
// and the job's staging is gone. An accepted attempt that is neither
// published nor staged fails the manifest (retried) instead of listing
// another attempt's objects.
func TestManifestPublishesAcceptedAttempts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	out, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	stageShard(t, out, "j-1", 0, 2)
	stageShard(t, out, "j-1", 0, 1) // the fenced node writes after the acceptance
	stageShard(t, out, "j-1", 1, 1)
	if _, err := storage.Publish(ctx, out, "", "j-1", 1, 1); err != nil { // shard 1's node published
		t.Fatal(err)
	}
	published1, err := os.ReadFile(filepath.Join(dir, storage.StatsKey("", 1)))
	if err != nil {
		t.Fatal(err)
	}
	job := protocol.Job{ID: "j-1", Shards: 2, UpdatedAt: time.Now(), Spec: protocol.JobSpec{Output: protocol.OutputSpec{URL: dir}}}
	info, err := writeJobManifest(ctx, job, fakeTasks{doneTask(0, 2), doneTask(1, 1)})
	if err != nil || info.Rows != 4 {
		t.Fatalf("manifest %+v: %v", info, err)
	}
	for shard, attempt := range []int{2, 1} {
		st, err := storage.VerifyShard(ctx, out, "", shard, "")
		if err != nil || st.Attempt != attempt || st.Node != fmt.Sprint("n", attempt) {
			t.Fatalf("shard %d: %+v %v, want attempt %d", shard, st, err, attempt)
		}
		for _, f := range st.Files {
			b, _ := os.ReadFile(filepath.Join(dir, f.Key))
			if bytes.Contains(b, []byte("attempt 1")) && shard == 0 {
				t.Fatalf("%s holds the fenced attempt's bytes: %s", f.Key, b)
			}
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, storage.StatsKey("", 1))); !bytes.Equal(b, published1) {
		t.Error("shard 1's published stats changed")
	}
	if _, err := os.Stat(filepath.Join(dir, storage.AttemptsDir)); !os.IsNotExist(err) {
		t.Errorf("staging left after the manifest: %v", err)
	}

	// Job 2: shard 0's accepted attempt 3 is nowhere (never staged).
	stageShard(t, out, "j-2", 0, 1)
	job2 := protocol.Job{ID: "j-2", Shards: 1, UpdatedAt: time.Now().Add(time.Minute), Spec: job.Spec}
	task := doneTask(0, 3)
	task.Job = "j-2"
	if _, err := writeJobManifest(ctx, job2, fakeTasks{task}); err == nil {
		t.Fatal("a manifest was written without the accepted attempt's objects")
	}
	if st, _ := storage.ReadStats(ctx, out, "", 0); st.Job != "j-1" {
		t.Fatalf("the unaccepted attempt was published: %+v", st)
	}
}
