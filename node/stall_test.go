package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// hungExecutor finishes done images, then hangs: until its context ends
// (honourCtx), or until the test releases it (a GPU kernel that never
// returns). armed: it calls progress at all (its model resolved).
type hungExecutor struct {
	done      int
	armed     bool
	honourCtx bool
	release   chan struct{}
}

func (h *hungExecutor) Execute(ctx context.Context, _ protocol.Assignment, progress func(int)) (protocol.ShardInfo, error) {
	if h.armed {
		progress(0)
		for i := 1; i <= h.done; i++ {
			progress(i)
		}
	}
	if h.honourCtx {
		select {
		case <-ctx.Done():
			return protocol.ShardInfo{}, ctx.Err()
		case <-h.release:
		}
	} else {
		<-h.release
	}
	return protocol.ShardInfo{}, context.Canceled
}

// TestAgentStallWatchdog: a task that finished no image for StallTimeout
// after its model resolved is given up: reported failed as stalled when
// its executor returns, and its heartbeat stops either way, so the leader
// requeues it even if the executor hangs for ever. Before the model
// resolved (a download, which has its own stall guards) nothing fires.
func TestAgentStallWatchdog(t *testing.T) {
	for _, c := range []struct {
		name      string
		exec      hungExecutor
		completes bool // a stalled completion arrives
		stops     bool // heartbeats stop
	}{
		{"executor honours the cancel", hungExecutor{done: 1, armed: true, honourCtx: true}, true, true},
		{"executor hangs for ever", hungExecutor{done: 1, armed: true}, false, true},
		{"model not resolved yet", hungExecutor{honourCtx: true}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			exec := c.exec
			exec.release = make(chan struct{})
			cfg := baseConfig(t, "n-stall", &exec)
			cfg.StallTimeout, cfg.ProgressInterval = 400*time.Millisecond, 50*time.Millisecond
			spec := tinySpec(t.TempDir(), "a", "b")
			leader := newFakeLeader(t, cfg.NATS, assignment(spec, "j-stall", 0, 1))
			startAgent(t, cfg)
			t.Cleanup(func() { close(exec.release) }) // before the agent stops (cleanups run last first)
			waitFor(t, 10*time.Second, "a heartbeat", func() bool { return len(leader.progressReports()) > 0 })
			time.Sleep(cfg.StallTimeout + 600*time.Millisecond)
			select {
			case rep := <-leader.completions:
				if !c.completes || !strings.Contains(rep.Error, "stalled") || rep.Result != nil {
					t.Fatalf("completion %+v (want one: %v, failed as stalled)", rep, c.completes)
				}
			default:
				if c.completes {
					t.Fatal("no completion for a stalled task whose executor returned")
				}
			}
			n := len(leader.progressReports())
			time.Sleep(300 * time.Millisecond) // six heartbeat intervals
			if stopped := len(leader.progressReports()) == n; stopped != c.stops {
				t.Errorf("heartbeats stopped: %v, want %v", stopped, c.stops)
			}
		})
	}
}

// TestLeaseDeadlineBounded: a deadline from a grant or an ack is taken as
// it is up to an hour ahead, and cut there beyond.
func TestLeaseDeadlineBounded(t *testing.T) {
	soon := time.Now().Add(time.Minute)
	if got := leaseDeadline(soon); !got.Equal(soon) {
		t.Errorf("a minute ahead: %v, want %v", got, soon)
	}
	if got := leaseDeadline(time.Now().Add(100 * 365 * 24 * time.Hour)); got.After(time.Now().Add(maxLeaseAhead)) {
		t.Errorf("a century ahead: %v, want at most an hour ahead", got)
	}
	if got := leaseDeadline(time.Time{}); !got.IsZero() {
		t.Errorf("zero: %v", got)
	}
}

// TestAgentDrainBounded: after the drain's grace period, shards whose
// executor ignores the cancel (a hung kernel) are waited for at most
// HandBackTimeout; then the node exits and revokes its announcement, so
// the leader requeues them as a lost node's.
func TestAgentDrainBounded(t *testing.T) {
	exec := &hungExecutor{armed: true, release: make(chan struct{})}
	defer close(exec.release)
	cfg := baseConfig(t, "n-hung", exec)
	cfg.DrainTimeout, cfg.HandBackTimeout = 100*time.Millisecond, 300*time.Millisecond
	leader := newFakeLeader(t, cfg.NATS, assignment(tinySpec(t.TempDir(), "x"), "j-hung", 0, 1))
	n := startAgent(t, cfg)
	waitFor(t, 10*time.Second, "a heartbeat", func() bool { return len(leader.progressReports()) > 0 })
	n.stop(t) // fails the test if Run does not return
	if _, ok := nodeInfo(t, cfg.Etcd, "n-hung"); ok {
		t.Error("the node's announcement outlived its exit")
	}
}
