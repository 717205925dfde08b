package testcluster_test

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/testcluster"
	"github.com/sanafarm/sanafarm/node"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// TestDatasetFencedNodeWritesLate (issue 13, item 5): node n0 is frozen
// while writing its first shard's stats, cut off from NATS and etcd but
// not from storage. Its lease expires, n1 redoes the shard (a later attempt),
// the job finishes and its manifest is written; then n0 wakes up and
// finishes its write. Every visible object stays byte for byte what the
// manifest was written over, the shard's stats name n1's attempt, and
// n0's late bytes exist only under its own attempt's staging folder,
// which n0 deletes once it sees the shard's outcome.
func TestDatasetFencedNodeWritesLate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	g := &lateGate{held: make(chan string, 1), release: make(chan struct{}), done: make(chan error, 1)}
	f := startDatasetFarm(t, testcluster.Options{NodeLeaseTTL: 2 * time.Second, LeaseTTL: 6 * time.Second}, g.opener)
	t.Cleanup(g.wake) // before the farm stops, should the test end early
	dir := f.c.OutputDir
	root, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	datasetPrompts(t, root)
	outURL := "file://" + dir + "/out"
	job, err := f.c.Client().SubmitJob(ctx, datasetSpec("file://"+dir+"/prompts.jsonl", outURL))
	if err != nil {
		t.Fatal(err)
	}
	var held string
	select {
	case held = <-g.held:
	case <-time.After(60 * time.Second):
		t.Fatal("n0 wrote no shard stats within 60 s")
	}
	f.c.FreezeNode(0)
	t.Logf("n0 frozen while writing %s", held)
	out := finishAndVerify(ctx, t, f, job.ID, outURL)
	before := visibleObjects(ctx, t, out)

	g.wake() // n0 wakes up and finishes its write
	select {
	case err := <-g.done:
		t.Logf("n0's late write of %s ended: %v", held, err)
	case <-time.After(10 * time.Second):
		t.Fatal("n0's late write did not end")
	}
	after := visibleObjects(ctx, t, out)
	if len(after) != len(before) {
		t.Fatalf("visible objects changed after the late write: %d, were %d", len(after), len(before))
	}
	for k, b := range before {
		if !bytes.Equal(after[k], b) {
			t.Fatalf("%s changed after the fenced node's late write", k)
		}
	}
	shard, attempt := shardOfStats(t, held), attemptOfStats(t, held)
	st, err := storage.VerifyShard(ctx, out, "", shard, "")
	if err != nil || st.Node == "n0" || st.Attempt <= attempt {
		t.Fatalf("shard %d stats: node %s attempt %d (%v), want n1's attempt after n0's %d", shard, st.Node, st.Attempt, err, attempt)
	}
	// The staging folder n0 wrote under is its own attempt's: the one the
	// leader records as n0's, lost when its lease expired. (It need not be
	// attempt 1: on a loaded machine a first grant whose reply came late
	// is requeued and granted again.)
	if !strings.HasPrefix(held, storage.AttemptPrefix("", string(job.ID), shard, attempt)+"/") || !heldBy(t, f, job.ID, shard, attempt, "n0") {
		t.Fatalf("n0 wrote %s, want a key under the staging folder of an attempt the leader records as n0's", held)
	}
	// n0's completion goes unanswered; seeing n1's attempt published, it
	// deletes its own staging.
	waitFor(t, 30*time.Second, "n0 to delete its late staging", func() bool {
		for range out.List(ctx, storage.AttemptsDir+"/") {
			return false
		}
		return true
	})
}

// visibleObjects reads every object of out outside the staging folders.
func visibleObjects(ctx context.Context, t *testing.T, out storage.Store) map[string][]byte {
	t.Helper()
	objs := map[string][]byte{}
	for o, err := range out.List(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(o.Key, storage.AttemptsDir+"/") {
			continue
		}
		b, err := readAll(ctx, out, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		objs[o.Key] = b
	}
	return objs
}

// shardOfStats is the shard of a (staged) stats key.
func shardOfStats(t *testing.T, key string) int {
	t.Helper()
	i := strings.LastIndex(key, "/")
	return shardOf(t, strings.TrimSuffix(key[i+1:], "_stats.json")+".tar")
}

// attemptOfStats is the attempt of a staged stats key
// (_attempts/<job>/<shard>/<attempt>/<shard>_stats.json).
func attemptOfStats(t *testing.T, key string) int {
	t.Helper()
	parts := strings.Split(key, "/")
	if len(parts) < 2 {
		t.Fatalf("stats key %q has no attempt folder", key)
	}
	a, err := strconv.Atoi(parts[len(parts)-2])
	if err != nil {
		t.Fatalf("stats key %q: attempt folder: %v", key, err)
	}
	return a
}

// heldBy reports whether the leader records attempt of the job's shard as
// node's (a failure of that attempt on it).
func heldBy(t *testing.T, f *datasetFarm, job protocol.JobID, shard, attempt int, node string) bool {
	t.Helper()
	tk, ok := f.c.Leader().Store().TaskByKey(protocol.TaskKey{Job: job, Shard: shard})
	if !ok {
		t.Fatalf("job %s has no shard %d", job, shard)
	}
	for _, fl := range tk.Failures {
		if fl.Attempt == attempt && fl.Node == node {
			return true
		}
	}
	t.Logf("shard %d failures: %+v", shard, tk.Failures)
	return false
}

// lateGate holds node n0's first shard-stats write until release is
// closed, then lets it through and reports how it ended.
type lateGate struct {
	held    chan string
	release chan struct{}
	done    chan error
	once    sync.Once
	woken   sync.Once
}

func (g *lateGate) wake() { g.woken.Do(func() { close(g.release) }) }

func (g *lateGate) opener(id string) node.StoreOpener {
	return func(ctx context.Context, url string) (node.ObjectStore, error) {
		s, err := storage.Open(ctx, url)
		if err != nil || id != "n0" {
			return s, err
		}
		return lateStore{ObjectStore: s, g: g}, nil
	}
}

type lateStore struct {
	node.ObjectStore
	g *lateGate
}

func (s lateStore) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	first := false
	if strings.HasSuffix(key, "_stats.json") {
		s.g.once.Do(func() { first = true })
	}
	if !first {
		return s.ObjectStore.Put(ctx, key, r)
	}
	s.g.held <- key
	<-s.g.release // frozen: no context ends this wait, as none reaches a stopped process
	n, err := s.ObjectStore.Put(ctx, key, r)
	s.g.done <- err
	return n, err
}
