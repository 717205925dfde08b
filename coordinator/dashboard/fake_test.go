package dashboard

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// fakeFarm is an API over an in-memory job list; a token other than
// the configured one gets the API's unauthorized error. Calls are
// recorded.
type fakeFarm struct {
	mu    sync.Mutex
	token string
	jobs  map[protocol.JobID]*protocol.Job
	nodes []api.NodeStatus
	calls []string
}

func newFakeFarm(token string) *fakeFarm {
	now := time.Now()
	f := &fakeFarm{token: token, jobs: map[protocol.JobID]*protocol.Job{}}
	f.jobs["job-1"] = &protocol.Job{ID: "job-1", State: protocol.JobRunning, CreatedAt: now.Add(-time.Minute),
		Spec: protocol.JobSpec{Name: "foxes-and-owls", Model: "sana-1600m-1024", Width: 1024, Height: 1024, Steps: 20, Guidance: 4.5,
			Output: protocol.OutputSpec{URL: "file:///data/out", Format: "webdataset"}},
		Shards: 4, Images: 32, ImagesDone: 8, ShardsDone: 1}
	f.jobs["job-2"] = &protocol.Job{ID: "job-2", State: protocol.JobFailed, CreatedAt: now.Add(-2 * time.Hour),
		Spec: protocol.JobSpec{Name: "city-at-night", Model: "sana-600m-512"}, Shards: 2, Images: 16, ImagesDone: 8,
		Error: "shard 1 failed 3 times"}
	f.nodes = []api.NodeStatus{{Info: protocol.NodeInfo{ID: "node-a", Backend: "cuda", Slots: 1, StartedAt: now.Add(-time.Hour),
		GPUs: []protocol.GPUInfo{{Name: "NVIDIA H100 80GB HBM3", MemoryTotal: 80 << 30, MemoryUsed: 30 << 30,
			Utilization: 35, TemperatureC: 61, PowerW: 420}}}, Live: true}}
	return f
}

// as returns the API acting with token.
func (f *fakeFarm) as(token string) API { return &fakeClient{f: f, token: token} }

type fakeClient struct {
	f     *fakeFarm
	token string
}

func (c *fakeClient) check(call string) error {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if c.token != c.f.token {
		return &protocol.Error{Code: protocol.CodeUnauthorized, Message: "missing or wrong bearer token"}
	}
	c.f.calls = append(c.f.calls, call)
	return nil
}

func (c *fakeClient) job(id protocol.JobID, f func(j *protocol.Job)) (protocol.Job, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	j, ok := c.f.jobs[id]
	if !ok {
		return protocol.Job{}, &protocol.Error{Code: protocol.CodeNotFound, Message: fmt.Sprintf("job %s not found", id)}
	}
	f(j)
	return *j, nil
}

func (c *fakeClient) Jobs(_ context.Context, state protocol.JobState) ([]protocol.Job, error) {
	if err := c.check("jobs"); err != nil {
		return nil, err
	}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	var out []protocol.Job
	for _, j := range c.f.jobs {
		if state == "" || j.State == state {
			out = append(out, *j)
		}
	}
	return out, nil
}

func (c *fakeClient) Job(_ context.Context, id protocol.JobID, _ bool, _, _ int) (api.JobDetail, error) {
	if err := c.check("job " + string(id)); err != nil {
		return api.JobDetail{}, err
	}
	j, err := c.job(id, func(*protocol.Job) {})
	if err != nil {
		return api.JobDetail{}, err
	}
	d := api.JobDetail{Job: j, Counts: api.TaskCounts{Done: j.ShardsDone, Queued: j.Shards - j.ShardsDone}}
	for i := range j.Shards {
		t := protocol.Task{TaskKey: protocol.TaskKey{Job: id, Shard: i}, Start: int64(8 * i), End: int64(8*i + 8), State: protocol.TaskQueued}
		if i < j.ShardsDone {
			t.State, t.Attempt, t.Assignee = protocol.TaskDone, 1, "node-a"
			t.Result = &protocol.ShardInfo{Node: "node-a", Images: 8, Seconds: 1.5}
		}
		if i == j.ShardsDone { // the first shard not done was handed back, refused by a full disk, then failed
			t.Attempt = 3
			t.Failures = []protocol.Failure{{Attempt: 1, Node: "node-a", Reason: protocol.ReasonDraining, NoFault: true},
				{Attempt: 2, Node: "node-c", Reason: "disk full", NoFault: true, NodeFault: true},
				{Attempt: 3, Node: "node-b", Reason: "out of memory"}}
		}
		d.Tasks = append(d.Tasks, t)
	}
	return d, nil
}

func (c *fakeClient) Nodes(context.Context) ([]api.NodeStatus, error) {
	if err := c.check("nodes"); err != nil {
		return nil, err
	}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	return append([]api.NodeStatus(nil), c.f.nodes...), nil
}

func (c *fakeClient) Health(context.Context) (api.Health, error) {
	if err := c.check("health"); err != nil {
		return api.Health{}, err
	}
	return api.Health{ID: "c1", Role: "leader", Leader: "c1", LeaderAddr: "127.0.0.1:7001", RaftState: "Leader", Term: 3,
		LastIndex: 42, AppliedIndex: 42, Time: time.Now(), NATS: "CONNECTED", Etcd: "ok", JobSpecBytes: 3 << 20, MaxJobBytes: 256 << 20,
		DataFreeBytes: 5 << 30, MinDataFree: 1 << 30,
		EtcdMembers: []api.EtcdMember{{Endpoint: "https://c1:2379", DBBytes: 1800 << 20, DBInUseBytes: 40 << 20, QuotaBytes: 2 << 30},
			{Endpoint: "https://c2:2379", DBBytes: 20 << 20, DBInUseBytes: 20 << 20, QuotaBytes: 2 << 30}, {Endpoint: "https://c3:2379", Error: "context deadline exceeded"}},
		Voters: []api.Voter{{ID: "c1", Address: "127.0.0.1:7001", Suffrage: "Voter", Leader: true, DataFreeBytes: 5 << 30},
			{ID: "c2", Address: "127.0.0.1:7002", Suffrage: "Voter", DataFreeBytes: 512 << 20}, {ID: "c3", Address: "127.0.0.1:7003", Suffrage: "Voter"}}}, nil
}

func (c *fakeClient) act(call string, id protocol.JobID, f func(j *protocol.Job)) (protocol.Job, error) {
	if err := c.check(call + " " + string(id)); err != nil {
		return protocol.Job{}, err
	}
	return c.job(id, f)
}

func (c *fakeClient) SubmitJob(_ context.Context, spec protocol.JobSpec) (protocol.Job, error) {
	if err := c.check("submit " + spec.Name); err != nil {
		return protocol.Job{}, err
	}
	if spec.Output.URL == "" {
		return protocol.Job{}, &protocol.Error{Code: protocol.CodeBadRequest, Message: "invalid job spec",
			Fields: []protocol.FieldError{{Field: "output.url", Problem: "required"}}}
	}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	id := protocol.JobID(fmt.Sprintf("job-%d", len(c.f.jobs)+1))
	n := int64(len(spec.Prompts.Inline) * max(spec.ImagesPerPrompt, 1))
	j := &protocol.Job{ID: id, Spec: spec, State: protocol.JobQueued, CreatedAt: time.Now(), Images: n, Shards: 1}
	c.f.jobs[id] = j
	return *j, nil
}

func (c *fakeClient) Cancel(_ context.Context, id protocol.JobID, _ string) (protocol.Job, error) {
	return c.act("cancel", id, func(j *protocol.Job) { j.State = protocol.JobCancelled })
}
func (c *fakeClient) Pause(_ context.Context, id protocol.JobID) (protocol.Job, error) {
	return c.act("pause", id, func(j *protocol.Job) { j.Paused = true })
}
func (c *fakeClient) Resume(_ context.Context, id protocol.JobID) (protocol.Job, error) {
	return c.act("resume", id, func(j *protocol.Job) { j.Paused = false })
}
func (c *fakeClient) Retry(_ context.Context, id protocol.JobID) (protocol.Job, error) {
	return c.act("retry", id, func(j *protocol.Job) { j.State, j.Error = protocol.JobRunning, "" })
}
func (c *fakeClient) SetPriority(_ context.Context, id protocol.JobID, p int) (protocol.Job, error) {
	return c.act(fmt.Sprintf("priority=%d", p), id, func(j *protocol.Job) { j.PriorityOverride = &p })
}
func (c *fakeClient) Delete(_ context.Context, id protocol.JobID, _ bool) error {
	_, err := c.act("delete", id, func(*protocol.Job) {})
	if err == nil {
		c.f.mu.Lock()
		delete(c.f.jobs, id)
		c.f.mu.Unlock()
	}
	return err
}
func (c *fakeClient) Drain(_ context.Context, node string, disable bool) (api.NodeStatus, error) {
	if err := c.check(fmt.Sprintf("drain %s disable=%v", node, disable)); err != nil {
		return api.NodeStatus{}, err
	}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	for i := range c.f.nodes {
		if c.f.nodes[i].Info.ID == node {
			c.f.nodes[i].Control = &protocol.NodeControl{Drain: true, Disable: disable}
			return c.f.nodes[i], nil
		}
	}
	return api.NodeStatus{}, &protocol.Error{Code: protocol.CodeNotFound, Message: "node " + node + " not found"}
}
func (c *fakeClient) Undrain(_ context.Context, node string) (api.NodeStatus, error) {
	if err := c.check("undrain " + node); err != nil {
		return api.NodeStatus{}, err
	}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	for i := range c.f.nodes {
		if c.f.nodes[i].Info.ID == node {
			c.f.nodes[i].Control = nil
			return c.f.nodes[i], nil
		}
	}
	return api.NodeStatus{}, &protocol.Error{Code: protocol.CodeNotFound, Message: "node " + node + " not found"}
}

// progress advances job-1 by one shard.
func (f *fakeFarm) progress() {
	f.mu.Lock()
	defer f.mu.Unlock()
	j := f.jobs["job-1"]
	if j == nil || j.Paused || j.State != protocol.JobRunning {
		return
	}
	j.ShardsDone++
	j.ImagesDone += 8
	g := &f.nodes[0].Info.GPUs[0]
	g.Utilization = float64(40 + 13*j.ShardsDone%60)
	g.MemoryUsed = uint64(30+2*j.ShardsDone) << 30
	if j.ShardsDone >= j.Shards {
		j.State = protocol.JobDone
	}
}

func (f *fakeFarm) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}
