package node

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/protocol"
)

// fakeLeader answers the control-plane subjects the way the coordinator
// leader does: leases from a queue, acks progress (or fences it), and
// records completions.
type fakeLeader struct {
	t *testing.T

	mu          sync.Mutex
	queue       []protocol.Assignment
	leaseCalls  int
	lastLease   protocol.LeaseRequest
	progress    []protocol.ProgressReport
	stale       bool // fence every progress report
	failFirst   int  // completions answered not_leader first
	completions chan protocol.CompleteReport
}

func newFakeLeader(t *testing.T, nc *nats.Conn, tasks ...protocol.Assignment) *fakeLeader {
	t.Helper()
	l := &fakeLeader{t: t, queue: tasks, completions: make(chan protocol.CompleteReport, 16)}
	for subj, h := range map[string]func([]byte) any{
		protocol.SubjectLease: l.lease, protocol.SubjectProgress: l.onProgress, protocol.SubjectComplete: l.complete,
	} {
		sub, err := nc.Subscribe(subj, func(m *nats.Msg) {
			js, _ := json.Marshal(h(m.Data))
			_ = m.Respond(js)
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Unsubscribe() })
	}
	return l
}

func (l *fakeLeader) lease(data []byte) any {
	var req protocol.LeaseRequest
	if err := json.Unmarshal(data, &req); err != nil || req.Free < 1 || req.Node.ID == "" {
		l.t.Errorf("bad lease request %s: %v", data, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.leaseCalls++
	l.lastLease = req
	n := min(req.Free, len(l.queue))
	out := l.queue[:n]
	l.queue = l.queue[n:]
	return protocol.LeaseReply{Assignments: out}
}

func (l *fakeLeader) onProgress(data []byte) any {
	var rep protocol.ProgressReport
	if err := json.Unmarshal(data, &rep); err != nil {
		l.t.Errorf("bad progress %s", data)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.progress = append(l.progress, rep)
	if l.stale {
		return protocol.Ack{Error: protocol.Errorf(protocol.CodeStaleAttempt, "attempt %d is stale", rep.Attempt)}
	}
	return protocol.Ack{Deadline: time.Now().Add(30 * time.Second)}
}

func (l *fakeLeader) complete(data []byte) any {
	var rep protocol.CompleteReport
	if err := json.Unmarshal(data, &rep); err != nil {
		l.t.Errorf("bad completion %s", data)
	}
	l.mu.Lock()
	if l.failFirst > 0 {
		l.failFirst--
		l.mu.Unlock()
		return protocol.Ack{Error: protocol.Errorf(protocol.CodeNotLeader, "leadership moving")}
	}
	l.mu.Unlock()
	l.completions <- rep
	return protocol.Ack{}
}

func (l *fakeLeader) progressReports() []protocol.ProgressReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]protocol.ProgressReport(nil), l.progress...)
}

func (l *fakeLeader) leaseCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leaseCalls
}

// nextLease waits for a lease request after the ones seen so far.
func (l *fakeLeader) nextLease(t *testing.T) protocol.LeaseRequest {
	t.Helper()
	calls := l.leaseCount()
	waitFor(t, 10*time.Second, "a lease request", func() bool { return l.leaseCount() > calls })
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastLease
}

func (l *fakeLeader) waitCompletion(t *testing.T, d time.Duration) protocol.CompleteReport {
	t.Helper()
	select {
	case c := <-l.completions:
		return c
	case <-time.After(d):
		t.Fatal("no completion report")
		return protocol.CompleteReport{}
	}
}

// assignment builds the lease of shard of spec.
func assignment(spec protocol.JobSpec, job protocol.JobID, shard, attempt int) protocol.Assignment {
	start, end := spec.SampleRange(shard)
	return protocol.Assignment{
		Task: protocol.Task{TaskKey: protocol.TaskKey{Job: job, Shard: shard}, Start: start, End: end,
			State: protocol.TaskLeased, Attempt: attempt},
		Spec: spec, Deadline: time.Now().Add(30 * time.Second),
	}
}
