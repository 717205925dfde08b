package node

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestReachObserve: the flag goes up once requests have found no leader
// for the whole wait while connected, and down at the first answer;
// failures while disconnected, or of other kinds, change nothing.
func TestReachObserve(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	const after = 10 * time.Second
	type step struct {
		at        time.Duration
		err       error
		connected bool
		flag      bool
		changed   bool
	}
	noResp := fmt.Errorf("requesting: %w", nats.ErrNoResponders)
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"no responders long enough", []step{
			{0, noResp, true, false, false}, {5 * time.Second, noResp, true, false, false},
			{10 * time.Second, noResp, true, true, true}, {12 * time.Second, noResp, true, true, false},
			{13 * time.Second, nil, true, false, true}, {14 * time.Second, nil, true, false, false}}},
		{"timeouts", []step{{0, context.DeadlineExceeded, true, false, false}, {11 * time.Second, nats.ErrTimeout, true, true, true}}},
		{"an answer restarts the wait", []step{
			{0, noResp, true, false, false}, {8 * time.Second, nil, true, false, false},
			{9 * time.Second, noResp, true, false, false}, {18 * time.Second, noResp, true, false, false},
			{19 * time.Second, noResp, true, true, true}}},
		{"disconnected says nothing", []step{
			{0, noResp, false, false, false}, {20 * time.Second, nats.ErrConnectionReconnecting, false, false, false},
			{40 * time.Second, noResp, false, false, false}}},
		{"other errors say nothing", []step{
			{0, errors.New("encoding failed"), true, false, false}, {20 * time.Second, context.Canceled, true, false, false}}},
		{"flag kept while disconnected", []step{
			{0, noResp, true, false, false}, {10 * time.Second, noResp, true, true, true},
			{20 * time.Second, nats.ErrConnectionReconnecting, false, true, false}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r reach
			for i, s := range c.steps {
				flag, changed, since := r.observe(s.err, s.connected, t0.Add(s.at), after)
				if flag != s.flag || changed != s.changed {
					t.Fatalf("step %d (%v, %v): flag %v changed %v, want %v %v", i, s.at, s.err, flag, changed, s.flag, s.changed)
				}
				if flag && (since.IsZero() || since.After(t0.Add(s.at-after))) {
					t.Fatalf("step %d: flagged since %v, want the first failure at least %v before", i, since, after)
				}
			}
		})
	}
}

// TestAgentAnnouncesUnreachableLeader: a node whose lease requests find no
// leader while its NATS connection is up says so in its etcd
// announcement, and takes it back once a leader answers.
func TestAgentAnnouncesUnreachableLeader(t *testing.T) {
	cfg := baseConfig(t, "n7", &blockingExecutor{})
	cfg.UnreachableAfter = 300 * time.Millisecond
	startAgent(t, cfg)
	start := time.Now()
	waitFor(t, 10*time.Second, "the announcement saying no leader answers", func() bool {
		info, ok := nodeInfo(t, cfg.Etcd, "n7")
		return ok && info.LeaderUnreachable
	})
	if info, _ := nodeInfo(t, cfg.Etcd, "n7"); info.LeaderUnreachableSince < start.Unix()-1 || info.LeaderUnreachableSince > time.Now().Unix() {
		t.Errorf("unreachable since %d, want between %d and now", info.LeaderUnreachableSince, start.Unix())
	}
	newFakeLeader(t, cfg.NATS)
	waitFor(t, 10*time.Second, "the announcement taking it back", func() bool {
		info, ok := nodeInfo(t, cfg.Etcd, "n7")
		return ok && !info.LeaderUnreachable && info.LeaderUnreachableSince == 0
	})
}
