package chaos

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// leaderKill: SIGKILL the Raft leader once a shard is done; a new leader
// must be elected, the old voter rejoins, the job completes.
func leaderKill(t *testing.T, r *Result) {
	fr := newFarmRun(t, r)
	fr.waitDone(1)
	old, _ := fr.f.WaitLeader(30 * time.Second)
	fr.faultNow()
	old.Kill()
	l, d := fr.f.WaitLeader(30 * time.Second)
	r.Note("new-leader", d)
	t.Logf("killed leader %s; %s leads after %v", old.ID, l.ID, d)
	time.Sleep(time.Second)
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	fr.finish()
}

// leaderFreeze: SIGSTOP the Raft leader once a shard is done (a long GC
// pause, a hung VM) until the others have elected a new leader, and 2 s
// more, then SIGCONT. The thawed voter wakes up believing it leads; it
// must learn the new term and follow (its leader-only work — leases,
// publishing, manifests — must not change the output), and the job
// completes whole.
func leaderFreeze(t *testing.T, r *Result) {
	fr := newFarmRun(t, r)
	fr.waitDone(1)
	old, _ := fr.f.WaitLeader(30 * time.Second)
	fr.faultNow()
	if err := old.Freeze(); err != nil {
		t.Fatal(err)
	}
	// SIGSTOP lands asynchronously: the old leader may still answer a
	// health check or two, so wait for another one.
	var l *Coord
	fr.f.waitUntil(30*time.Second, "a new leader", func() bool {
		l = fr.f.Leader()
		return l != nil && l != old
	}, fr.f.AllProcs()...)
	d := time.Since(fr.fault)
	r.Note("new-leader", d)
	t.Logf("froze leader %s; %s leads after %v", old.ID, l.ID, d)
	time.Sleep(2 * time.Second)
	if err := old.Thaw(); err != nil {
		t.Fatal(err)
	}
	thawed := time.Now()
	fr.f.waitUntil(30*time.Second, "the thawed voter to follow", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h, err := old.API.Health(ctx)
		return err == nil && h.Role == "follower" && h.Leader != "" && h.Leader != old.ID
	}, fr.f.AllProcs()...)
	r.Note("follows-after-thaw", time.Since(thawed))
	fr.finish()
}

// nodeKill: SIGKILL a node mid-shard, restart it (same id) 2 s later;
// the shard is retried and the job completes.
func nodeKill(t *testing.T, r *Result) {
	fr := newFarmRun(t, r)
	n := fr.f.Nodes[0]
	tk := fr.waitLeased(n.ID)
	fr.faultNow()
	n.Kill()
	t.Logf("killed %s holding shard %d (attempt %d, progress %d)", n.ID, tk.Shard, tk.Attempt, tk.Progress)
	time.Sleep(2 * time.Second)
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	fr.finish()
}

// frozenNode: SIGSTOP a node mid-shard past its lease (its etcd
// announcement lapses, the shard is leased again to the other node),
// then SIGCONT. With NATS the node is thawed mid-job and must drop its
// stale attempt. With cutNATS its NATS link is cut while it is frozen and
// it is thawed only after the job is done and its manifest written: the
// zombie reaches the storage but not the coordinators, and must not
// change the accepted output (issue 13 item 5). The output is verified at
// the job's end, after the zombie finished its shard, and (cutNATS) after
// the link is restored.
func frozenNode(t *testing.T, r *Result, cutNATS bool) {
	fr := newFarmRun(t, r)
	n := fr.f.Nodes[0]
	tk := fr.waitLeased(n.ID)
	fr.faultNow()
	if err := n.Freeze(); err != nil {
		t.Fatal(err)
	}
	if cutNATS {
		n.Link.Cut()
	}
	re := WaitTask(t, fr.apis, fr.job, endBound, "the frozen node's shard leased again", func(x protocol.Task) bool {
		return x.Shard == tk.Shard && x.Attempt > tk.Attempt
	}, fr.f.AllProcs()...)
	r.Note("re-leased", time.Since(fr.fault))
	t.Logf("%s frozen with shard %d attempt %d; attempt %d went to %s after %v", n.ID, tk.Shard, tk.Attempt,
		re.Attempt, re.Assignee, time.Since(fr.fault).Round(100*time.Millisecond))
	if !cutNATS {
		time.Sleep(time.Second)
		thaw(t, n)
	}
	tasks := fr.finish()
	if cutNATS {
		thaw(t, n)
	}
	// The zombie finishes its shard (~5 s), then gives up on or is
	// refused its completion; wait for that, then the output must still
	// be the accepted attempt's.
	waitLog(n.Proc, 40*time.Second, "giving up on task completion", "task aborted", "completion refused")
	time.Sleep(2 * time.Second)
	fr.verify(tasks)
	if cutNATS {
		// Reconnected, the zombie may report or publish late.
		n.Link.Restore()
		fr.f.WaitNodes(30*time.Second, nodeCount)
		time.Sleep(3 * time.Second)
		fr.verify(tasks)
	}
	t.Logf("%s since SIGSTOP:\n%s", n.ID, n.LogsSince("stopped (signal)", 3000))
}

func thaw(t *testing.T, n *Node) {
	t.Helper()
	if err := n.Thaw(); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits up to limit for a line containing any of marks in p's
// output since its last SIGCONT (log wording may change: no failure).
func waitLog(p *Proc, limit time.Duration, marks ...string) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		since := p.LogsSince("continued", 1<<20)
		for _, m := range marks {
			if strings.Contains(since, m) {
				return
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// natsRestart: kill NATS mid-job, start it again on the same port 2 s
// later; nodes and coordinators reconnect and the job completes.
func natsRestart(t *testing.T, r *Result) {
	restartDuring(t, r, "nats", 2*time.Second)
}

// natsOutage: NATS down for 15 s, longer than two lease TTLs (6 s): no
// node can report and the leader hears nothing, yet the leases must not
// be held against the nodes, and the job completes whole once NATS is
// back (coordinator/leader.go, nodeLink).
func natsOutage(t *testing.T, r *Result) {
	restartDuring(t, r, "nats", 15*time.Second)
}

// etcdFreeze: SIGSTOP etcd for 6 s mid-job (a hung disk or VM: its
// connections stay open, nothing answers), longer than the nodes'
// announcement TTL (3 s), then SIGCONT: etcd expires every node's
// announcement at once. The nodes were alive all along, so no shard may
// be requeued, and the job completes whole (coordinator/nodegone.go).
func etcdFreeze(t *testing.T, r *Result) {
	freezeDuring(t, r, func(f *Farm) freezer { return f.Etcd }, 6*time.Second, true)
}

// natsFreeze: SIGSTOP nats-server for 15 s mid-job (longer than two lease
// TTLs). Every connection stays up and carries nothing, so the leader
// notices only the silence: it must hold the leases rather than expire
// them against nodes that are rendering (coordinator/nodelink.go), and the
// nodes deliver their finished shards once it thaws (node
// CompletionPatience). Before, both nodes were blocklisted and the job
// failed. Strict: lease requests NATS held during the freeze are granted
// at the thaw after their senders gave up on the reply; those grants are
// requeued at the node's next request ("lease reply lost", no strike;
// coordinator/grants.go), which is logged, and any other failed attempt
// fails the run (before grants.go they sat leased for a lease TTL and
// failed as "lease expired").
func natsFreeze(t *testing.T, r *Result) {
	freezeDuring(t, r, func(f *Farm) freezer { return f.NATS }, 15*time.Second, true)
}

// s3Freeze: SIGSTOP versitygw for 12 s mid-job (a hung endpoint: its
// port still accepts connections, nothing answers), three times the
// processes' S3 stall timeout (s3Stall, SANAFARM_S3_STALL_TIMEOUT), then
// SIGCONT. Uploads and downloads stall and requests wait for headers that
// never come: each try is given up after the stall timeout and retried
// (storage/s3_stall.go), and the retries (6 tries, over 20 s) outlast the
// freeze, so no attempt may fail (strict), and the job completes whole.
func s3Freeze(t *testing.T, r *Result) {
	freezeDuring(t, r, func(f *Farm) freezer { return f.S3 }, 3*s3Stall, true)
}

// reasonReplyLost begins the failure of a grant whose lease reply never
// reached its node (coordinator/grants.go): the leader requeues it at the
// node's next request, without a strike. NATS held the request.
const reasonReplyLost = "lease reply lost"

// freezer is a process SIGSTOP and SIGCONT reach (*Proc, the S3 server).
type freezer interface {
	Freeze() error
	Thaw() error
}

// freezeDuring stops one of the farm's processes (SIGSTOP) once a shard
// is done, thaws it after down, and asserts that the job completes whole
// — strict: with no failed attempt but grants whose reply was lost (the
// others are logged).
func freezeDuring(t *testing.T, r *Result, which func(*Farm) freezer, down time.Duration, strict bool) {
	fr := newFarmRun(t, r)
	p := which(fr.f)
	fr.waitDone(1)
	fr.faultNow()
	if err := p.Freeze(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(down)
	if err := p.Thaw(); err != nil {
		t.Fatal(err)
	}
	for _, tk := range fr.finish() {
		failed := false
		for _, f := range tk.Failures {
			report := t.Logf
			if strict && !strings.HasPrefix(f.Reason, reasonReplyLost) {
				report, failed = t.Errorf, true
			}
			report("shard %d attempt %d failed on %s: %s (the nodes were alive all along)", tk.Shard, f.Attempt, f.Node, f.Reason)
		}
		if failed {
			t.Logf("what the farm logged about shard %d:\n%s", tk.Shard, fr.trail(tk.Shard))
		}
	}
}

// etcdRestart: kill etcd mid-job (node announcements and API addresses
// live there), start it again 2 s later.
func etcdRestart(t *testing.T, r *Result) {
	restartDuring(t, r, "etcd", 2*time.Second)
}

// s3Restart: stop versitygw mid-job for 3 s (uploads and the manifest
// must retry), start it again on the same port with the same data.
func s3Restart(t *testing.T, r *Result) {
	restartDuring(t, r, "s3", 3*time.Second)
}

// s3Outage: stop versitygw mid-job for 30 s, far longer than a store
// operation's own retries (six tries, about 7 s): the nodes keep their
// rendered shards and upload them once it is back (node/patient.go), so no
// attempt fails, and no node is struck, for an outage of the store they
// all share.
func s3Outage(t *testing.T, r *Result) {
	for _, tk := range restartDuring(t, r, "s3", 30*time.Second) {
		for _, f := range tk.Failures {
			t.Errorf("shard %d attempt %d failed on %s: %s (an outage of the shared store)", tk.Shard, f.Attempt, f.Node, f.Reason)
		}
	}
}

// restartDuring stops one backing service once a shard is done and
// restarts it after down; it returns the job's tasks.
func restartDuring(t *testing.T, r *Result, what string, down time.Duration) []protocol.Task {
	fr := newFarmRun(t, r)
	fr.waitDone(1)
	fr.faultNow()
	var start func() error
	switch what {
	case "nats":
		fr.f.NATS.Kill()
		start = fr.f.NATS.Start
	case "etcd":
		fr.f.Etcd.Kill()
		start = fr.f.Etcd.Start
	case "s3":
		fr.f.S3.Stop()
		start = func() error { fr.f.S3.Start(); return nil }
	}
	time.Sleep(down)
	if err := start(); err != nil {
		t.Fatal(err)
	}
	return fr.finish()
}

// quorumLoss: kill 2 of the 3 coordinators (the leader and a follower)
// mid-job, restart both 3 s later; a leader is elected again and the
// job completes.
func quorumLoss(t *testing.T, r *Result) {
	fr := newFarmRun(t, r)
	fr.waitDone(1)
	l, _ := fr.f.WaitLeader(30 * time.Second)
	killed := []*Coord{l}
	for _, c := range fr.f.Coords {
		if c != l && len(killed) < 2 {
			killed = append(killed, c)
		}
	}
	fr.faultNow()
	for _, c := range killed {
		c.Kill()
	}
	time.Sleep(3 * time.Second)
	for _, c := range killed {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	_, d := fr.f.WaitLeader(60 * time.Second)
	r.Note("leader-after-restart", d)
	fr.finish()
}

// clusterRestart: SIGKILL every coordinator at once mid-job (a power cut
// of the control plane; nodes keep running), start them all 2 s later
// from their data dirs; the state comes back from the Raft log and
// snapshots, the nodes' leases are honoured or requeued, and the job
// completes whole.
func clusterRestart(t *testing.T, r *Result) {
	fr := newFarmRun(t, r)
	fr.waitDone(1)
	fr.faultNow()
	for _, c := range fr.f.Coords {
		c.Kill()
	}
	time.Sleep(2 * time.Second)
	for _, c := range fr.f.Coords {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	_, d := fr.f.WaitLeader(60 * time.Second)
	r.Note("leader-after-restart", d)
	fr.finish()
}
