package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// failShard leases one shard as node and reports it failed with reason.
func failShard(t *testing.T, srv *Server, node, reason string) {
	t.Helper()
	ctx := context.Background()
	r := srv.Lease(ctx, protocol.LeaseRequest{Node: protocol.NodeInfo{ID: node, Backend: "cpu", Slots: 1}, Free: 1})
	if r.Error != nil || len(r.Assignments) != 1 {
		t.Fatalf("%s lease: %+v", node, r)
	}
	a := r.Assignments[0]
	ack := srv.Complete(ctx, protocol.CompleteReport{TaskKey: a.Task.TaskKey, Node: node, Attempt: a.Task.Attempt, Error: reason})
	if ack.Error != nil {
		t.Fatalf("%s failure report: %v", node, ack.Error)
	}
}

// TestStuckJobFails (issue 13 item 3): a job whose every live node is
// blocklisted for it (two failures each, attempts not exhausted) fails
// with the reasons instead of staying running forever; with no live node
// at all a job keeps waiting.
func TestStuckJobFails(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) { cfg.LeaseTTL = time.Minute })
	c.leader(10 * time.Second)
	srv := c.members[0].srv
	ctx := context.Background()
	leases := map[string]clientv3.LeaseID{}
	for _, id := range []string{"n1", "n2"} {
		leases[id] = announce(t, c.etcd, id)
	}
	waitFor(t, 5*time.Second, "nodes in the node view", func() bool { return len(srv.Nodes()) == 2 })
	spec := testSpec(4) // 2 shards
	spec.Model, spec.MaxAttempts = "nobody/no-such-model", 9
	job, err := srv.SubmitJob(ctx, "j-typo", spec)
	if err != nil {
		t.Fatal(err)
	}
	const reason = "model nobody/no-such-model: 404 repository not found"
	for _, n := range []string{"n1", "n1", "n2"} {
		failShard(t, srv, n, reason)
	}
	time.Sleep(20 * srv.cfg.ProgressInterval)
	if j, _ := srv.Store().JobByID(job.ID); j.State.Terminal() {
		t.Fatalf("job %s while n2 may still run it: %s", j.State, j.Error)
	}
	failShard(t, srv, "n2", "node crashed")
	waitFor(t, 5*time.Second, "the job failed", func() bool {
		j, _ := srv.Store().JobByID(job.ID)
		return j.State == protocol.JobFailed
	})
	j, _ := srv.Store().JobByID(job.ID)
	for _, want := range []string{"no live node may run it", "n1: blocklisted after 2 failed attempts",
		"n2: blocklisted after 2 failed attempts", `"` + reason + `" (3 attempts, shards 0)`, `"node crashed" (1 attempt, shards 0)`} {
		if !strings.Contains(j.Error, want) {
			t.Errorf("job error %q lacks %q", j.Error, want)
		}
	}

	// No live node: a job with failures everywhere keeps waiting.
	wait, err := srv.SubmitJob(ctx, "j-wait", testSpec(4))
	if err != nil {
		t.Fatal(err)
	}
	failShard(t, srv, "n1", "boom")
	failShard(t, srv, "n1", "boom")
	for _, l := range leases {
		if _, err := c.etcd.Revoke(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "nodes gone", func() bool { return len(srv.Nodes()) == 0 })
	time.Sleep(20 * srv.cfg.ProgressInterval)
	if j, _ := srv.Store().JobByID(wait.ID); j.State.Terminal() {
		t.Fatalf("job %s with no live nodes: %s", j.State, j.Error)
	}
}

// TestOutputConflictAPI (issue 13 item 6): submitting a job whose output
// overlaps an active job's answers 409 with the field named; the same id
// and spec again is still the idempotent retry.
func TestOutputConflictAPI(t *testing.T) {
	c := startCluster(t, 1, nil)
	c.leader(10 * time.Second)
	srv := c.members[0].srv
	ctx := context.Background()
	cl := client.New(srv.URL(), clusterToken)
	spec := testSpec(2)
	spec.Output.URL = "file:///data/run/a"
	job, err := cl.SubmitJobID(ctx, "j-a", spec)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := cl.SubmitJobID(ctx, "j-a", spec); err != nil || again.ID != job.ID {
		t.Fatalf("idempotent resubmit: %+v %v", again, err)
	}
	for _, out := range []string{"file:///data/run/a", "/data/run", "file:///data/run/a/b/"} {
		other := spec
		other.Output.URL = out
		body, _ := json.Marshal(other)
		resp := call(t, srv.URL(), http.MethodPost, "/v1/jobs", clusterToken, string(body))
		var e protocol.Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusConflict || !strings.Contains(e.Message, "active job j-a") ||
			len(e.Fields) != 1 || e.Fields[0].Field != "output.url" {
			t.Errorf("output %s: status %d, error %+v; want 409 naming j-a and output.url", out, resp.StatusCode, e)
		}
	}
	other := spec
	other.Output.URL = "file:///data/run/ab"
	if _, err := cl.SubmitJob(ctx, other); err != nil {
		t.Errorf("sibling output refused: %v", err)
	}
}

// countingWriter is a fake manifest writer: it counts calls per job and
// the most calls in flight, and fails the jobs in fail.
type countingWriter struct {
	mu       sync.Mutex
	calls    map[protocol.JobID]int
	inflight int
	maxIn    int
	fail     map[protocol.JobID]bool
}

func (w *countingWriter) write(_ context.Context, j protocol.Job) (storage.ManifestInfo, error) {
	w.mu.Lock()
	w.calls[j.ID]++
	w.inflight++
	w.maxIn = max(w.maxIn, w.inflight)
	fail := w.fail[j.ID]
	w.mu.Unlock()
	time.Sleep(5 * time.Millisecond) // a Stat and two small writes
	w.mu.Lock()
	w.inflight--
	w.mu.Unlock()
	if fail {
		return storage.ManifestInfo{}, errors.New("storage unavailable")
	}
	return storage.ManifestInfo{Rows: 1, Shards: 1}, nil
}

func (w *countingWriter) total() (calls, maxIn int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range w.calls {
		calls += n
	}
	return calls, w.maxIn
}

// TestManifestsOnDone (issue 13 item 7): manifests are written as soon as
// jobs are done — an event, concurrently (a bounded pool), without any
// leader tick (ticks are an hour here; the old writer did one per tick) —
// and recorded in Raft; a new leader writes only the one job whose
// manifest was never recorded, not the 199 others.
func TestManifestsOnDone(t *testing.T) {
	const jobs = 200
	c := startCluster(t, 3, func(cfg *Config) { cfg.ProgressInterval, cfg.LeaseTTL = time.Hour, time.Hour })
	writers := make([]*countingWriter, len(c.members))
	var failing protocol.JobID = "j-000"
	for i, m := range c.members {
		writers[i] = &countingWriter{calls: map[protocol.JobID]int{}, fail: map[protocol.JobID]bool{}}
		m.srv.manifests.setWriter(writers[i].write)
	}
	li := c.leader(10 * time.Second)
	writers[li].mu.Lock()
	writers[li].fail[failing] = true // the first leader cannot write this one
	writers[li].mu.Unlock()
	srv := c.members[li].srv
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var errs atomic.Int64
	for i := range jobs {
		wg.Go(func() {
			if _, err := srv.SubmitJob(ctx, protocol.JobID(fmt.Sprintf("j-%03d", i)), testSpec(1)); err != nil {
				errs.Add(1)
			}
		})
	}
	wg.Wait()
	r := srv.Lease(ctx, protocol.LeaseRequest{Node: protocol.NodeInfo{ID: "n", Backend: "cpu", Slots: jobs}, Free: jobs})
	if errs.Load() > 0 || len(r.Assignments) != jobs {
		t.Fatalf("%d submit errors, %d leases (%v)", errs.Load(), len(r.Assignments), r.Error)
	}
	for _, a := range r.Assignments {
		wg.Go(func() {
			ack := srv.Complete(ctx, protocol.CompleteReport{TaskKey: a.Task.TaskKey, Node: "n", Attempt: a.Task.Attempt,
				Result: &protocol.ShardInfo{Node: "n", Images: 1}})
			if ack.Error != nil {
				errs.Add(1)
			}
		})
	}
	wg.Wait()
	if errs.Load() > 0 {
		t.Fatalf("%d completion errors", errs.Load())
	}
	recorded := func(s *Server) int {
		n := 0
		for _, j := range s.Store().Jobs(protocol.JobDone) {
			if !j.ManifestAt.IsZero() {
				n++
			}
		}
		return n
	}
	waitFor(t, 30*time.Second, "199 manifests recorded on every voter", func() bool {
		for _, m := range c.members {
			if recorded(m.srv) != jobs-1 {
				return false
			}
		}
		return true
	})
	calls, maxIn := writers[li].total()
	writers[li].mu.Lock()
	retries := writers[li].calls[failing] // retried after its backoff on a later done event
	writers[li].mu.Unlock()
	if calls-retries != jobs-1 || retries < 1 || maxIn < 2 || maxIn > manifestWorkers {
		t.Fatalf("leader wrote %d manifests and %s %d times (want %d, each once), at most %d at once (want 2..%d)",
			calls-retries, failing, retries, jobs-1, maxIn, manifestWorkers)
	}
	if p := srv.Store().ManifestsPending(); len(p) != 1 || p[0] != failing {
		t.Fatalf("pending %v, want only %s", p, failing)
	}

	c.stop(li)
	nl := c.leader(10 * time.Second)
	waitFor(t, 10*time.Second, "the new leader records the last manifest", func() bool {
		j, _ := c.members[nl].srv.Store().JobByID(failing)
		return !j.ManifestAt.IsZero()
	})
	time.Sleep(100 * time.Millisecond)
	w := writers[nl]
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.calls) != 1 || w.calls[failing] != 1 {
		t.Fatalf("new leader wrote %v; want only %s, once", w.calls, failing)
	}
}

// TestNodeRestartRequeues (issue 13 item 8): a node that comes back under
// the same id with a new incarnation (StartedAt) gets its old leases
// requeued — at once when the new process asks for work, and goneGrace
// after the leader reads it from etcd (the key re-put under a new lease
// before the old one expired) when the old process stays silent — and its
// new leases are kept. A restart is no blocklist strike (the job did not
// fail there; the process did).
func TestNodeRestartRequeues(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) { cfg.LeaseTTL = 12 * time.Second }) // goneGrace 6 s
	c.leader(10 * time.Second)
	srv := c.members[0].srv
	ctx := context.Background()
	job, err := srv.SubmitJob(ctx, "j-restart", testSpec(12)) // 6 shards
	if err != nil {
		t.Fatal(err)
	}
	t1, t2 := t0, t0.Add(time.Minute)
	info := func(id string, started time.Time) protocol.NodeInfo {
		return protocol.NodeInfo{ID: id, Backend: "cpu", Slots: 2, StartedAt: started}
	}
	put := func(n protocol.NodeInfo) { announceInfo(t, c.etcd, n) }
	lease := func(n protocol.NodeInfo) []protocol.Assignment {
		t.Helper()
		r := srv.Lease(ctx, protocol.LeaseRequest{Node: n, Free: 2})
		if r.Error != nil || len(r.Assignments) != 2 {
			j, _ := srv.Store().JobByID(job.ID)
			t.Fatalf("%s lease: %+v (job %+v)", n.ID, r, j)
		}
		return r.Assignments
	}
	requeued := func(as []protocol.Assignment) func() bool {
		return func() bool {
			for _, a := range as {
				tk, _ := srv.Store().TaskByKey(a.Task.TaskKey)
				if len(tk.Failures) == 0 || tk.Failures[len(tk.Failures)-1].Reason != "node restarted" ||
					tk.Failures[len(tk.Failures)-1].Attempt != a.Task.Attempt {
					return false
				}
			}
			return true
		}
	}

	// Through etcd: the restarted n1 re-puts its key before its old
	// lease expired (no delete event ever comes). n3 is a second node.
	put(info("n3", t1))
	put(info("n1", t1))
	waitFor(t, 5*time.Second, "n1 in the node view", func() bool { return len(srv.Nodes()) == 2 })
	old1 := lease(info("n1", t1))
	put(info("n1", t2))
	waitFor(t, 3*srv.goneGrace()/2, "n1's old leases requeued", requeued(old1))
	if n := srv.Store().View().FailuresOn(job.ID, "n1"); n != 0 {
		t.Errorf("n1 has %d blocklist strikes for one restart, want 0", n)
	}

	// Through the lease path: the new n2 asks for work before its etcd
	// announcement reaches the leader.
	old2 := lease(info("n2", t1))
	new2 := lease(info("n2", t2))
	if !requeued(old2)() {
		t.Fatalf("n2's old leases %v not requeued before its new lease", old2)
	}
	put(info("n2", t2))
	// A request of the old, frozen process waking up changes nothing.
	if r := srv.Lease(ctx, protocol.LeaseRequest{Node: info("n2", t1)}); r.Error != nil {
		t.Fatal(r.Error)
	}
	time.Sleep(200 * time.Millisecond)
	for _, a := range new2 {
		if tk, _ := srv.Store().TaskByKey(a.Task.TaskKey); tk.State != protocol.TaskLeased || tk.Attempt != a.Task.Attempt {
			t.Errorf("new incarnation's lease %v: %+v", a.Task.TaskKey, tk)
		}
	}
	if j, _ := srv.Store().JobByID(job.ID); j.State.Terminal() {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
}

// TestGoneNodeRequeuedByLaterLeader: a node whose etcd key was deleted
// while no coordinator was leader (the delete reached every watch, but
// nodeEvent requeues only on the leader) still has its leases requeued at
// the next leader tick, not after the task lease; until it registers again
// it gets no new work.
func TestGoneNodeRequeuedByLaterLeader(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) { cfg.LeaseTTL = time.Hour })
	c.leader(10 * time.Second)
	srv := c.members[0].srv
	ctx := context.Background()
	if _, err := srv.SubmitJob(ctx, "j-gone", testSpec(8)); err != nil {
		t.Fatal(err)
	}
	n1 := protocol.NodeInfo{ID: "n1", Backend: "cpu", Slots: 2, StartedAt: t0}
	r := srv.Lease(ctx, protocol.LeaseRequest{Node: n1, Free: 2})
	if r.Error != nil || len(r.Assignments) != 2 {
		t.Fatalf("lease: %+v", r)
	}
	srv.nodes.del("n1", time.Time{}) // what a follower's watch records; no requeue happened then
	waitFor(t, 5*time.Second, "n1's leases requeued by the leader tick", func() bool {
		return len(srv.Store().LeasesByNode()["n1"]) == 0
	})
	for _, a := range r.Assignments {
		tk, _ := srv.Store().TaskByKey(a.Task.TaskKey)
		if tk.State != protocol.TaskQueued || len(tk.Failures) != 1 || tk.Failures[0].Reason != "node lost" {
			t.Errorf("task %s after requeue: %+v", a.Task.TaskKey, tk)
		}
	}
	if r := srv.Lease(ctx, protocol.LeaseRequest{Node: n1, Free: 2}); r.Error == nil || r.Error.Code != protocol.CodeUnavailable {
		t.Errorf("lease of a gone node: %+v, want unavailable", r)
	}
	srv.nodes.put("n1", n1, time.Now()) // registered again
	if r := srv.Lease(ctx, protocol.LeaseRequest{Node: n1, Free: 2}); r.Error != nil || len(r.Assignments) == 0 {
		t.Errorf("lease after re-registering: %+v", r)
	}
}

// TestRestartedNodeWorksBeforeRegistering: a node that restarts while etcd
// refuses writes (full) cannot register; its old key expired, so its id is
// gone. Its new incarnation's lease request requeues the old leases and is
// granted work at once, as a node never seen before would be (not only
// once requeueGone forgets the id, goneGrace later); a request of the old
// incarnation while the id is gone is still refused.
func TestRestartedNodeWorksBeforeRegistering(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) { cfg.LeaseTTL = time.Hour })
	c.leader(10 * time.Second)
	srv := c.members[0].srv
	ctx := context.Background()
	if _, err := srv.SubmitJob(ctx, "j-restart-full", testSpec(8)); err != nil {
		t.Fatal(err)
	}
	old := protocol.NodeInfo{ID: "n1", Backend: "cpu", Slots: 2, StartedAt: t0}
	r := srv.Lease(ctx, protocol.LeaseRequest{Node: old, Free: 2})
	if r.Error != nil || len(r.Assignments) != 2 {
		t.Fatalf("lease: %+v", r)
	}
	srv.nodes.del("n1", time.Now()) // the old process's key expired
	if r := srv.Lease(ctx, protocol.LeaseRequest{Node: old, Free: 2}); protocol.CodeOf(r.Error) != protocol.CodeUnavailable {
		t.Errorf("lease of the gone incarnation: %+v, want unavailable", r)
	}
	restarted := old
	restarted.StartedAt = t0.Add(time.Minute)
	r2 := srv.Lease(ctx, protocol.LeaseRequest{Node: restarted, Free: 2})
	if r2.Error != nil || len(r2.Assignments) == 0 {
		t.Fatalf("lease of the restarted, unregistered node: %+v", r2)
	}
	for _, a := range r.Assignments {
		tk, _ := srv.Store().TaskByKey(a.Task.TaskKey)
		if tk.Attempt == a.Task.Attempt && tk.State == protocol.TaskLeased {
			t.Errorf("old incarnation's lease %v still held: %+v", a.Task.TaskKey, tk)
		}
	}
	if srv.nodes.isGone("n1") {
		t.Error("n1 still gone after its new incarnation was granted work: requeueGone would take its leases")
	}
	if n := srv.Store().View().FailuresOn("j-restart-full", "n1"); n != 0 {
		t.Errorf("n1 has %d strikes for restarting", n)
	}
}
