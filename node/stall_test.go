package node

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
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
// requeues it even if the executor hangs for ever. An executor that does
// not return within a quarter of StallTimeout of its cancel is hung: the
// node drains (leases nothing more) and Run returns errExecutorHung, so
// the service manager restarts it. Before the model resolved (a download,
// which has its own stall guards) nothing fires.
func TestAgentStallWatchdog(t *testing.T) {
	for _, c := range []struct {
		name      string
		exec      hungExecutor
		completes bool // a stalled completion arrives
		stops     bool // heartbeats stop
		restarts  bool // the node drains and Run returns errExecutorHung
	}{
		{"executor honours the cancel", hungExecutor{done: 1, armed: true, honourCtx: true}, true, true, false},
		{"executor hangs for ever", hungExecutor{done: 1, armed: true}, false, true, true},
		{"model not resolved yet", hungExecutor{honourCtx: true}, false, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			exec := c.exec
			exec.release = make(chan struct{})
			cfg := baseConfig(t, "n-stall", &exec)
			cfg.StallTimeout, cfg.ProgressInterval = 400*time.Millisecond, 50*time.Millisecond
			spec := tinySpec(t.TempDir(), "a", "b")
			leader := newFakeLeader(t, cfg.NATS, assignment(spec, "j-stall", 0, 1))
			a, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- a.Run(ctx) }()
			defer func() {
				close(exec.release)
				cancel()
				select {
				case err := <-done:
					if got := errors.Is(err, errExecutorHung); got != c.restarts || !c.restarts && err != nil {
						t.Errorf("Run = %v, want errExecutorHung: %v", err, c.restarts)
					}
				case <-time.After(30 * time.Second):
					t.Error("Run did not return")
				}
			}()
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
			info, _ := nodeInfo(t, cfg.Etcd, "n-stall")
			if info.Draining != c.restarts {
				t.Errorf("node draining: %v, want %v", info.Draining, c.restarts)
			}
		})
	}
}

// TestLeaseDeadlineBounded: a deadline from a grant or an ack is read
// against the leader's clock at its answer when the answer carries it —
// whatever the node's clock says, the lease lasts what the leader gave —
// and as a wall time from older leaders; either way it is cut an hour
// ahead.
func TestLeaseDeadlineBounded(t *testing.T) {
	now := time.Now()
	near := func(got, want time.Time) bool { return got.Sub(want).Abs() < time.Second }
	for _, c := range []struct {
		name         string
		d, leaderNow time.Time
		want         time.Time // zero: checked by cut
		cut          bool      // at most maxLeaseAhead from now
	}{
		{"wall time, a minute ahead", now.Add(time.Minute), time.Time{}, now.Add(time.Minute), false},
		{"wall time, a century ahead", now.Add(100 * 365 * 24 * time.Hour), time.Time{}, time.Time{}, true},
		{"leader an hour behind the node", now.Add(-time.Hour + 10*time.Second), now.Add(-time.Hour), now.Add(10 * time.Second), false},
		{"leader a day ahead of the node", now.Add(24*time.Hour + 10*time.Second), now.Add(24 * time.Hour), now.Add(10 * time.Second), false},
		{"leader's lease already over", now.Add(-time.Second), now, now.Add(-time.Second), false},
		{"a century from the leader's now", now.Add(100 * 365 * 24 * time.Hour), now, time.Time{}, true},
	} {
		got := leaseDeadline(c.d, c.leaderNow)
		switch {
		case c.cut && got.After(time.Now().Add(maxLeaseAhead)):
			t.Errorf("%s: %v, want at most an hour ahead", c.name, got)
		case !c.cut && !near(got, c.want):
			t.Errorf("%s: %v, want about %v", c.name, got, c.want)
		}
	}
	if got := leaseDeadline(time.Time{}, time.Time{}); !got.IsZero() {
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

// TestCompletionOnLeaderClock: a leader whose clock is an hour behind the
// node's grants a 20 s lease. The node reads it against the leader's
// clock (LeaseReply.Now), so it keeps retrying a failed attempt's
// completion through a few seconds without a leader, instead of taking
// the lease for an hour over and giving up after one request timeout.
func TestCompletionOnLeaderClock(t *testing.T) {
	cfg := baseConfig(t, "n-skew", failingExecutor{errors.New("prompts.url: line 3: not UTF-8")})
	leaderNow := time.Now().Add(-time.Hour)
	asg := assignment(tinySpec(t.TempDir(), "a"), "j-skew", 0, 1)
	asg.Deadline = leaderNow.Add(20 * time.Second)
	queue := []protocol.Assignment{asg}
	var mu sync.Mutex
	respond(t, cfg.NATS, protocol.SubjectLease, func([]byte) any {
		mu.Lock()
		defer mu.Unlock()
		out := queue
		queue = nil
		return protocol.LeaseReply{Assignments: out, Now: time.Now().Add(-time.Hour)}
	})
	var first time.Time
	accepted := make(chan protocol.CompleteReport, 1)
	respond(t, cfg.NATS, protocol.SubjectComplete, func(data []byte) any {
		mu.Lock()
		defer mu.Unlock()
		if first.IsZero() {
			first = time.Now()
		}
		if time.Since(first) < 3*time.Second { // three RequestTimeouts without a leader
			return protocol.Ack{Error: protocol.Errorf(protocol.CodeUnavailable, "no leader")}
		}
		var rep protocol.CompleteReport
		_ = json.Unmarshal(data, &rep)
		select {
		case accepted <- rep:
		default:
		}
		return protocol.Ack{}
	})
	startAgent(t, cfg)
	select {
	case rep := <-accepted:
		if rep.Result != nil || rep.Attempt != 1 {
			t.Fatalf("completion %+v", rep)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the failed attempt's completion was given up: the lease was read on the node's clock")
	}
}
