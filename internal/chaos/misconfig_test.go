package chaos

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// misconfiguredNode: node n0 is restarted mid-job with an --allow-write
// that does not cover the job's output (an operator's typo on one
// droplet). Nodes do not announce their allow-lists, so the leader still
// leases n0 shards; n0 must refuse to write them — failed attempts whose
// reason names the allow-list, reported as the node's own fault: struck
// but not counted, so the job's --max-attempts 1 survives them — the
// per-job blocklist keeps it off the job after two, n1 completes the job,
// and the verifier finds nothing outside the output (the node touches only
// locations its operator allowed).
func misconfiguredNode(t *testing.T, r *Result) {
	spec := DefaultJob
	spec.MaxAttempts = 1
	fr := newFarmRunJob(t, r, spec)
	n := fr.f.Nodes[0]
	fr.waitLeased(n.ID)
	fr.faultNow()
	if err := n.Stop(10 * time.Second); err != nil { // drains: its running shard is handed back
		t.Fatal(err)
	}
	i := slices.Index(n.args, "--allow-write")
	if i < 0 {
		t.Skip("this build's node takes no --allow-write")
	}
	n.args = slices.Clone(n.args)
	n.args[i+1] = "s3://" + bucket + "/elsewhere"
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	tasks := fr.finish()
	refused := 0
	for _, tk := range tasks {
		for _, f := range tk.Failures {
			if f.Node == n.ID && strings.Contains(f.Reason, "--allow-write") {
				refused++
				if !f.NodeFault || !f.NoFault {
					t.Errorf("refusal recorded as %+v, want the node's own fault, not counted", f)
				}
			}
		}
	}
	if refused == 0 {
		t.Errorf("no attempt refused by %s for its allow-list:\n%s", n.ID, describeTasks(tasks))
	}
	t.Logf("%s refused %d attempts for its allow-list; the job completed on the other node", n.ID, refused)
}
