package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/protocol"
)

// The fake backend's control methods (the HTTP layer's own tests); the
// real ones are tested on a one-voter cluster below.
func (f *fakeBackend) PauseJob(_ context.Context, id protocol.JobID, paused bool) (protocol.Job, error) {
	return f.update(id, func(j *protocol.Job) { j.Paused = paused })
}
func (f *fakeBackend) RetryJob(_ context.Context, id protocol.JobID) (protocol.Job, error) {
	return f.update(id, func(j *protocol.Job) { j.Retries++ })
}
func (f *fakeBackend) SetPriority(_ context.Context, id protocol.JobID, p int) (protocol.Job, error) {
	return f.update(id, func(j *protocol.Job) { j.PriorityOverride = &p })
}
func (f *fakeBackend) DeleteJob(_ context.Context, id protocol.JobID, _ bool) error {
	_, err := f.update(id, func(*protocol.Job) {})
	return err
}
func (f *fakeBackend) DrainNode(_ context.Context, node string, drain, disable bool) (protocol.NodeControl, error) {
	return protocol.NodeControl{Drain: drain, Disable: disable}, checkNodeID(node)
}

func (f *fakeBackend) update(id protocol.JobID, do func(*protocol.Job)) (protocol.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[id]
	if !ok {
		return j, jobNotFound(string(id))
	}
	do(&j)
	f.jobs[id] = j
	return j, nil
}

// TestControlAPI drives every control endpoint on a one-voter cluster:
// auth failures, unknown jobs, refusals (409) and the effects.
func TestControlAPI(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) { cfg.LeaseTTL = time.Minute })
	c.leader(10 * time.Second)
	srv := c.members[0].srv
	ctx := context.Background()
	if _, err := srv.SubmitJob(ctx, "j-a", testSpec(4)); err != nil {
		t.Fatal(err)
	}
	node := protocol.NodeInfo{ID: "n1", Backend: "cpu", Slots: 1}
	cases := []struct {
		name, method, path, token, body string
		status                          int
		code                            protocol.Code
	}{
		{"pause no token", "POST", "/v1/jobs/j-a/pause", "", "", 401, protocol.CodeUnauthorized},
		{"resume wrong token", "POST", "/v1/jobs/j-a/resume", "nope", "", 401, protocol.CodeUnauthorized},
		{"retry no token", "POST", "/v1/jobs/j-a/retry", "", "", 401, protocol.CodeUnauthorized},
		{"priority no token", "POST", "/v1/jobs/j-a/priority", "", `{"priority":1}`, 401, protocol.CodeUnauthorized},
		{"delete no token", "DELETE", "/v1/jobs/j-a", "", "", 401, protocol.CodeUnauthorized},
		{"drain no token", "POST", "/v1/nodes/n1/drain", "", "", 401, protocol.CodeUnauthorized},
		{"undrain wrong token", "POST", "/v1/nodes/n1/undrain", "x", "", 401, protocol.CodeUnauthorized},
		{"disable no token", "POST", "/v1/nodes/n1/disable", "", "", 401, protocol.CodeUnauthorized},
		{"pause unknown", "POST", "/v1/jobs/j-none/pause", clusterToken, "", 404, protocol.CodeNotFound},
		{"retry unknown", "POST", "/v1/jobs/j-none/retry", clusterToken, "", 404, protocol.CodeNotFound},
		{"priority unknown", "POST", "/v1/jobs/j-none/priority", clusterToken, `{"priority":1}`, 404, protocol.CodeNotFound},
		{"delete unknown", "DELETE", "/v1/jobs/j-none", clusterToken, "", 404, protocol.CodeNotFound},
		{"priority missing", "POST", "/v1/jobs/j-a/priority", clusterToken, `{}`, 400, protocol.CodeBadRequest},
		{"priority not a number", "POST", "/v1/jobs/j-a/priority", clusterToken, `{"priority":"high"}`, 400, protocol.CodeBadRequest},
		{"pause with unknown field", "POST", "/v1/jobs/j-a/pause", clusterToken, `{"x":1}`, 400, protocol.CodeBadRequest},
		{"bad force", "DELETE", "/v1/jobs/j-a?force=maybe", clusterToken, "", 400, protocol.CodeBadRequest},
		{"bad node id", "POST", "/v1/nodes/n%20one/drain", clusterToken, "", 400, protocol.CodeBadRequest},
		{"retry running job", "POST", "/v1/jobs/j-a/retry", clusterToken, "", 409, protocol.CodeConflict},
		{"delete running job", "DELETE", "/v1/jobs/j-a", clusterToken, "", 409, protocol.CodeConflict},
		{"pause", "POST", "/v1/jobs/j-a/pause", clusterToken, "", 200, ""},
		{"priority", "POST", "/v1/jobs/j-a/priority", clusterToken, `{"priority":4}`, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := call(t, srv.URL(), tc.method, tc.path, tc.token, tc.body)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			var e protocol.Error
			if tc.code != "" && (json.Unmarshal(b, &e) != nil || e.Code != tc.code) {
				t.Fatalf("error %s, want code %s", b, tc.code)
			}
		})
	}
	j, _ := srv.store.JobByID("j-a")
	if !j.Paused || j.EffectivePriority() != 4 {
		t.Fatalf("job after pause and priority: %+v", j)
	}
	if r := srv.Lease(ctx, protocol.LeaseRequest{Node: node, Free: 1}); len(r.Assignments) != 0 {
		t.Fatalf("paused job leased: %+v", r)
	}
	cl := client.New(srv.URL(), clusterToken)
	if _, err := cl.Resume(ctx, "j-a"); err != nil {
		t.Fatal(err)
	}
	testNodeControl(t, srv, cl, node)
	testRetryAndDelete(t, srv, cl)
}

// testNodeControl: a drained node gets nothing, a disabled one hands its
// lease back, undrain restores it; the node listing shows the state.
func testNodeControl(t *testing.T, srv *Server, cl *client.Client, node protocol.NodeInfo) {
	ctx := context.Background()
	r := srv.Lease(ctx, protocol.LeaseRequest{Node: node, Free: 1})
	if len(r.Assignments) != 1 {
		t.Fatalf("resumed job not leased: %+v", r)
	}
	ns, err := cl.Drain(ctx, "n1", false)
	if err != nil || ns.Control == nil || !ns.Control.Drain || len(ns.Leases) != 1 {
		t.Fatalf("drain: %+v %v", ns, err)
	}
	if r := srv.Lease(ctx, protocol.LeaseRequest{Node: node, Free: 1}); len(r.Assignments) != 0 {
		t.Fatalf("drained node leased: %+v", r)
	}
	ns, err = cl.Drain(ctx, "n1", true)
	if err != nil || !ns.Control.Disable || len(ns.Leases) != 0 {
		t.Fatalf("disable: %+v %v (its lease must go back)", ns, err)
	}
	if c, _ := srv.store.TaskCounts("j-a"); c.Leased != 0 || c.Queued != 2 {
		t.Fatalf("counts after disable %+v", c)
	}
	ack := srv.Complete(ctx, protocol.CompleteReport{TaskKey: r.Assignments[0].Task.TaskKey, Node: "n1",
		Attempt: r.Assignments[0].Task.Attempt, Result: &protocol.ShardInfo{Images: 2}})
	if ack.Error == nil || ack.Error.Code != protocol.CodeStaleAttempt {
		t.Fatalf("disabled node's late completion: %+v", ack)
	}
	if nodes, _ := cl.Nodes(ctx); len(nodes) != 1 || nodes[0].Control == nil || nodes[0].Live {
		t.Fatalf("node list %+v", nodes)
	}
	if ns, err := cl.Undrain(ctx, "n1"); err != nil || ns.Control != nil {
		t.Fatalf("undrain %+v %v", ns, err)
	}
	if r := srv.Lease(ctx, protocol.LeaseRequest{Node: node, Free: 2}); len(r.Assignments) != 2 {
		t.Fatalf("undrained node: %+v", r)
	}
}

// testRetryAndDelete fails j-a's leased shards until it fails, retries
// it, then cancels and deletes it.
func testRetryAndDelete(t *testing.T, srv *Server, cl *client.Client) {
	ctx := context.Background()
	for _, lt := range srv.store.LeasedTasks() {
		srv.Complete(ctx, protocol.CompleteReport{TaskKey: lt.TaskKey, Node: "n1", Attempt: lt.Attempt, Error: "boom"})
	}
	for i := 0; i < 10; i++ {
		if j, _ := srv.store.JobByID("j-a"); j.State.Terminal() {
			break
		}
		failShard(t, srv, fmt.Sprintf("f%d", i), "boom") // a new node each time: none blocklisted
	}
	j, err := cl.Retry(ctx, "j-a")
	if err != nil || j.State.Terminal() || j.Retries != 1 {
		t.Fatalf("retry: %+v %v", j, err)
	}
	if _, err := cl.Cancel(ctx, "j-a", "done testing"); err != nil {
		t.Fatal(err)
	}
	err = cl.Delete(ctx, "j-a", false)
	if protocol.CodeOf(err) != protocol.CodeConflict { // manifest pending (no output folder: written at once, maybe)
		if err != nil {
			t.Fatalf("delete: %v", err)
		}
		return
	}
	if err := cl.Delete(ctx, "j-a", true); err != nil {
		t.Fatalf("forced delete: %v", err)
	}
	if _, err := cl.Job(ctx, "j-a", false, 0, 0); protocol.CodeOf(err) != protocol.CodeNotFound {
		t.Fatalf("deleted job: %v", err)
	}
}

// TestControlAPIFake: the routes reach the backend with the right
// arguments (fake backend).
func TestControlAPIFake(t *testing.T) {
	f := newFake()
	srv := newTestAPI(t, f)
	ctx := context.Background()
	cl := client.New(srv.URL, testToken)
	j, err := cl.SubmitJob(ctx, protocol.JobSpec{Model: protocol.TinyPreset, Prompts: protocol.PromptSource{Inline: []string{"a"}},
		Output: protocol.OutputSpec{URL: "/tmp/o"}})
	if err != nil {
		t.Fatal(err)
	}
	if j, err = cl.Pause(ctx, j.ID); err != nil || !j.Paused {
		t.Fatalf("pause %+v %v", j, err)
	}
	if j, err = cl.SetPriority(ctx, j.ID, -2); err != nil || j.EffectivePriority() != -2 {
		t.Fatalf("priority %+v %v", j, err)
	}
	if err := cl.Delete(ctx, j.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Pause(ctx, "not a job id!"); protocol.CodeOf(err) != protocol.CodeBadRequest {
		t.Fatalf("client-side id check: %v", err)
	}
	resp := call(t, srv.URL, http.MethodPost, api.NodeActionPath("n1", "drain"), testToken, "")
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("drain status %d", resp.StatusCode)
	}
}
