package node

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// recordingExecutor runs every assignment at once and records it.
type recordingExecutor struct {
	mu   sync.Mutex
	seen []protocol.TaskKey
}

func (r *recordingExecutor) Execute(_ context.Context, a protocol.Assignment, progress func(int)) (protocol.ShardInfo, error) {
	r.mu.Lock()
	r.seen = append(r.seen, a.Task.TaskKey)
	r.mu.Unlock()
	progress(1)
	return protocol.ShardInfo{Images: 1}, nil
}

func (r *recordingExecutor) executed() []protocol.TaskKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]protocol.TaskKey(nil), r.seen...)
}

// TestAgentRefusesInvalidAssignment: a lease reply whose assignment would
// make the executor reserve 2^62 prompt rows (a makeslice panic that
// ended the node before Assignment.Check) is not run: its attempt is
// reported failed naming the field, the node goes on, and the valid
// assignment of the same reply runs.
func TestAgentRefusesInvalidAssignment(t *testing.T) {
	exec := &recordingExecutor{}
	cfg := baseConfig(t, "n6", exec)
	cfg.Slots = 2
	prompts := make([]string, 128)
	for i := range prompts {
		prompts[i] = "a red fox"
	}
	hostile := assignment(tinySpec(t.TempDir(), prompts...), "j-6", 0, 4)
	hostile.Spec.ImagesPerPrompt, hostile.Task.End = 1<<55, 1<<62
	valid := assignment(tinySpec(t.TempDir(), "a lighthouse"), "j-7", 0, 1)
	leader := newFakeLeader(t, cfg.NATS, hostile, valid)
	startAgent(t, cfg)

	reports := map[protocol.JobID]protocol.CompleteReport{}
	for range 2 {
		c := leader.waitCompletion(t, 10*time.Second)
		reports[c.Job] = c
	}
	if c := reports["j-6"]; c.Attempt != 4 || c.Result != nil || !strings.Contains(c.Error, "spec.images_per_prompt") ||
		!strings.Contains(c.Error, "task.end") {
		t.Errorf("hostile assignment's report: attempt %d, error %q, result %+v; want attempt 4 failed naming spec.images_per_prompt and task.end",
			c.Attempt, c.Error, c.Result)
	}
	if c := reports["j-7"]; c.Error != "" || c.Result == nil || c.Result.Images != 1 {
		t.Errorf("valid assignment's report: error %q, result %+v; want success", c.Error, c.Result)
	}
	if got := exec.executed(); len(got) != 1 || got[0].Job != "j-7" {
		t.Errorf("executed %v, want only j-7", got)
	}
	leader.nextLease(t) // the node is still leasing
}

// TestAgentPendingPaced: a leader that answers every lease request with
// Pending at once (its GangHold 0, or its request context ending) gets a
// bounded request rate, not a tight loop.
func TestAgentPendingPaced(t *testing.T) {
	cfg := baseConfig(t, "n8", &recordingExecutor{})
	var mu sync.Mutex
	calls := 0
	respond(t, cfg.NATS, protocol.SubjectLease, func([]byte) any {
		mu.Lock()
		calls++
		mu.Unlock()
		return protocol.LeaseReply{Pending: true}
	})
	n := startAgent(t, cfg)
	const window = time.Second
	time.Sleep(window)
	n.stop(t)
	mu.Lock()
	defer mu.Unlock()
	if limit := int(window/pendingRetryDelay) + 3; calls < 2 || calls > limit {
		t.Fatalf("%d lease requests in %v of Pending replies, want 2..%d", calls, window, limit)
	}
}
