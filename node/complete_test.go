package node

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// TestAgentCompletionOutlivesOutage: a shard finishes while no
// coordinator can accept its completion (a NATS or leader outage: every
// answer is "unavailable") and stays so past the lease deadline. The
// leader holds leases while its NATS link is down, so the node keeps
// retrying the finished shard's completion for CompletionPatience instead
// of dropping the work at its deadline; once the answer comes, the attempt
// is published.
func TestAgentCompletionOutlivesOutage(t *testing.T) {
	out, cfg := shortLeaseAgent(t, "n7", "j-7", 20*time.Second)
	var mu sync.Mutex
	var first time.Time
	accepted := make(chan protocol.CompleteReport, 1)
	respond(t, cfg.NATS, protocol.SubjectComplete, func(data []byte) any {
		var rep protocol.CompleteReport
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Errorf("bad completion %s", data)
		}
		mu.Lock()
		defer mu.Unlock()
		if first.IsZero() {
			first = time.Now()
		}
		// Unanswerable well past the deadline and RequestTimeout (1 s).
		if time.Since(first) < 4*time.Second {
			return protocol.Ack{Error: protocol.Errorf(protocol.CodeUnavailable, "no leader")}
		}
		accepted <- rep
		return protocol.Ack{}
	})
	startAgent(t, cfg)
	select {
	case rep := <-accepted:
		if rep.Result == nil || rep.Attempt != 1 {
			t.Fatalf("completion %+v", rep)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the finished shard's completion was given up during the outage")
	}
	waitFor(t, 10*time.Second, "the accepted attempt published", func() bool {
		return exists(out, storage.StatsKey("", 0)) && !exists(out, storage.AttemptsDir)
	})
}

// TestAgentCompletionStopsOnceSettled: during an outage that does not end,
// the shard's outcome appears in its output (another attempt won and was
// published). The node stops retrying at once instead of waiting out
// CompletionPatience, and deletes its own staging.
func TestAgentCompletionStopsOnceSettled(t *testing.T) {
	out, cfg := shortLeaseAgent(t, "n8", "j-8", 10*time.Minute)
	tried := make(chan struct{}, 1)
	respond(t, cfg.NATS, protocol.SubjectComplete, func([]byte) any {
		select {
		case tried <- struct{}{}:
		default:
		}
		return protocol.Ack{Error: protocol.Errorf(protocol.CodeUnavailable, "no leader")}
	})
	startAgent(t, cfg)
	select {
	case <-tried:
	case <-time.After(90 * time.Second):
		t.Fatal("no completion sent")
	}
	waitFor(t, 10*time.Second, "the attempt staged", func() bool { return exists(out, storage.AttemptsDir) })
	// Attempt 2 (elsewhere) was accepted and published meanwhile.
	stats, err := json.Marshal(storage.ShardStats{Job: "j-8", Shard: 0, Attempt: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, filepath.FromSlash(storage.StatsKey("", 0))), stats, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the node to give up and delete its staging", func() bool {
		return !exists(out, storage.AttemptPrefix("", "j-8", 0, 1))
	})
}

// shortLeaseAgent is a node config whose leader (the test's responders)
// hands out one sana-tiny shard of job with a 1 s lease, kept 1 s at a
// time by progress; completions are the test's to answer.
func shortLeaseAgent(t *testing.T, id string, job protocol.JobID, patience time.Duration) (string, Config) {
	out := t.TempDir()
	exec := NewPipelineExecutor(PipelineConfig{Allow: tempAllow(), Models: &ModelResolver{CacheRoot: t.TempDir()}, Node: id, Logger: testLogger(t)})
	t.Cleanup(func() { exec.Close() })
	cfg := baseConfig(t, id, exec)
	cfg.CompletionPatience = patience
	asg := assignment(tinySpec(out, "a red fox"), job, 0, 1)
	asg.Deadline = time.Now().Add(time.Second)
	queue := []protocol.Assignment{asg}
	respond(t, cfg.NATS, protocol.SubjectLease, func([]byte) any {
		out := queue
		queue = nil
		return protocol.LeaseReply{Assignments: out}
	})
	respond(t, cfg.NATS, protocol.SubjectProgress, func([]byte) any { return protocol.Ack{Deadline: time.Now().Add(time.Second)} })
	return out, cfg
}
