package chaos

import (
	"testing"
	"time"
)

// natsCut is how long leader-nats-cut keeps the leader's NATS link cut:
// past the handover (handoverAfter disconnected, then a 3 s confirmation:
// coordinator/handover.go) with room to spare.
const natsCut = 30 * time.Second

// leaderNATSCut: once a shard is done, cut the Raft leader off from NATS
// alone (its proxy drops the connection and refuses new ones; Raft, etcd
// and the API still reach it) for natsCut, then restore the link. Raft
// keeps it leader, but node traffic reaches only the leader: it must hand
// the leadership to a voter that reaches NATS, within the cut, and the
// job must complete whole, with no attempt counted against a shard.
func leaderNATSCut(t *testing.T, r *Result) {
	fr := newFarmRun(t, r)
	fr.waitDone(1)
	old, _ := fr.f.WaitLeader(30 * time.Second)
	fr.faultNow()
	old.Link.Cut()
	start := time.Now()
	var next *Coord
	fr.f.waitUntil(natsCut, "another coordinator leading while "+old.ID+" is cut off from NATS", func() bool {
		next = fr.f.Leader()
		return next != nil && next != old
	}, fr.f.AllProcs()...)
	r.Note("handover", time.Since(start))
	t.Logf("%s cut off from NATS; %s leads after %v", old.ID, next.ID, time.Since(start).Round(100*time.Millisecond))
	time.Sleep(time.Until(start.Add(natsCut)))
	old.Link.Restore()
	for _, tk := range fr.finish() {
		for _, f := range tk.Failures {
			report := t.Logf
			if !f.NoFault {
				report = t.Errorf
			}
			report("shard %d attempt %d failed on %s: %s (not counted: %v)", tk.Shard, f.Attempt, f.Node, f.Reason, f.NoFault)
		}
	}
}
