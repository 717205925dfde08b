package chaos

import (
	"slices"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// rollingRestart: the workers are upgraded mid-job as docs/deploy.md §5
// says — stop (it drains: a shard still running after --drain-timeout is
// handed back), start — one at a time, each while it holds a shard with
// progress, on a job with --max-attempts 1. A hand-back is no fault of its
// shard (protocol.CmdTaskRequeue): the job must complete, and every
// failure on record must be a hand-back marked not counted. Before the
// requeue command the first hand-back failed the job.
func rollingRestart(t *testing.T, r *Result) {
	spec := DefaultJob
	spec.Prompts, spec.MaxAttempts = 32, 1 // 16 shards: time for the restarts
	fr := newFarmRunJob(t, r, spec)
	handedBack := func() int {
		_, tasks, err := JobDetail(fr.apis, fr.job)
		if err != nil {
			return 0
		}
		return countHandBacks(tasks)
	}
	for i := 0; i < 6 && handedBack() < 2; i++ {
		n := fr.f.Nodes[i%len(fr.f.Nodes)]
		fr.waitLeased(n.ID)
		if i == 0 {
			fr.faultNow()
		}
		if err := n.Stop(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		// From its second stop on, a node hands back whatever runs: its
		// first stop may let the shard finish within --drain-timeout 2s.
		if i := slices.Index(n.args, "--drain-timeout"); i >= 0 {
			n.args = slices.Clone(n.args)
			n.args[i+1] = "100ms"
		}
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
	}
	tasks := fr.finish()
	for _, tk := range tasks {
		for _, f := range tk.Failures {
			if !f.NoFault || f.Reason != protocol.ReasonDraining {
				t.Errorf("shard %d: failure %+v, want only hand-backs, not counted", tk.Shard, f)
			}
		}
	}
	n := countHandBacks(tasks)
	if n == 0 {
		t.Errorf("no shard was handed back: the scenario tested nothing\n%s", describeTasks(tasks))
	}
	t.Logf("%d shards handed back by stopping nodes; the job (max_attempts 1) completed", n)
}

// countHandBacks counts the hand-backs on record.
func countHandBacks(tasks []protocol.Task) int {
	n := 0
	for _, tk := range tasks {
		for _, f := range tk.Failures {
			if f.Reason == protocol.ReasonDraining {
				n++
			}
		}
	}
	return n
}
