package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// leaseFixture is a one-voter leader (default lease TTL: nothing expires
// in a test) with one job, leased to directly as node n1.
type leaseFixture struct {
	t    *testing.T
	srv  *Server
	job  protocol.Job
	node protocol.NodeInfo
}

func newLeaseFixture(t *testing.T, job string, prompts int) *leaseFixture {
	c := startCluster(t, 1, nil)
	c.leader(10 * time.Second)
	f := &leaseFixture{t: t, srv: c.members[0].srv,
		node: protocol.NodeInfo{ID: "n1", Backend: "cpu", Slots: 4, StartedAt: time.Now().UTC()}}
	var err error
	if f.job, err = f.srv.SubmitJob(context.Background(), protocol.JobID(job), testSpec(prompts)); err != nil {
		t.Fatal(err)
	}
	return f
}

// lease sends n1's request number seq for free tasks, listing holds.
func (f *leaseFixture) lease(seq uint64, free int, holds ...protocol.Assignment) protocol.LeaseReply {
	f.t.Helper()
	r := protocol.LeaseRequest{Node: f.node, Free: free, Seq: seq}
	for _, h := range holds {
		r.Holds = append(r.Holds, protocol.TaskAttempt{TaskKey: h.Task.TaskKey, Attempt: h.Task.Attempt})
	}
	rep := f.srv.Lease(context.Background(), r)
	if rep.Error != nil {
		f.t.Fatalf("lease %d: %v", seq, rep.Error)
	}
	return rep
}

func (f *leaseFixture) task(a protocol.Assignment) protocol.Task {
	tk, _ := f.srv.Store().TaskByKey(a.Task.TaskKey)
	return tk
}

// TestLostLeaseReplyRequeued: a grant whose reply never reached its node
// (a later request of the node does not list it) is sent again when the
// node asks for work, else requeued at once, without a strike; a listed
// grant stays; a request of an older node (unnumbered), of an older
// incarnation, or sent before the grant (NATS delayed it, and it is
// handled late) requeues nothing.
func TestLostLeaseReplyRequeued(t *testing.T) {
	f := newLeaseFixture(t, "j-lost-reply", 8)
	first := f.lease(2, 2).Assignments
	if len(first) != 2 {
		t.Fatalf("granted %d, want 2", len(first))
	}
	kept, lost := first[0], first[1]

	f.lease(0, 0) // unnumbered: lists nothing
	f.lease(1, 0) // sent before the grant, handled after it
	older := protocol.LeaseRequest{Node: f.node, Seq: 9}
	older.Node.StartedAt = f.node.StartedAt.Add(-time.Minute)
	if rep := f.srv.Lease(context.Background(), older); rep.Error != nil {
		t.Fatal(rep.Error)
	}
	for _, a := range first {
		if tk := f.task(a); tk.State != protocol.TaskLeased || len(tk.Failures) != 0 {
			t.Fatalf("shard %d requeued by a request that says nothing of it: %s %+v", tk.Shard, tk.State, tk.Failures)
		}
	}
	// Asking for work, the node gets the lost grant again: same attempt,
	// nothing committed, no attempt spent.
	again := f.lease(4, 1, kept).Assignments
	if len(again) != 1 || again[0].Task.TaskKey != lost.Task.TaskKey || again[0].Task.Attempt != lost.Task.Attempt {
		t.Fatalf("re-sent %+v, want shard %d attempt %d", again, lost.Task.Shard, lost.Task.Attempt)
	}
	if tk := f.task(lost); tk.State != protocol.TaskLeased || tk.Attempt != 1 || len(tk.Failures) != 0 {
		t.Fatalf("re-sent grant: %s attempt %d failures %+v", tk.State, tk.Attempt, tk.Failures)
	}
	// Lost again, and the node asks for nothing: requeued.
	f.lease(5, 0, kept)
	if tk := f.task(lost); tk.State != protocol.TaskQueued || len(tk.Failures) != 1 || tk.Failures[0].Reason != reasonReplyLost {
		t.Errorf("unlisted grant: %s, failures %+v; want queued with one %q", tk.State, tk.Failures, reasonReplyLost)
	}
	if tk := f.task(kept); tk.State != protocol.TaskLeased || len(tk.Failures) != 0 {
		t.Errorf("listed grant: %s, failures %+v; want still leased", tk.State, tk.Failures)
	}
	if n := f.srv.Store().View().FailuresOn(f.job.ID, "n1"); n != 0 {
		t.Errorf("n1 has %d strikes for a lost reply", n)
	}
	// A confirmed grant is forgotten: a later request that no longer lists
	// it (the shard finished and was reported) requeues nothing.
	f.lease(6, 0)
	if tk := f.task(kept); tk.State != protocol.TaskLeased {
		t.Errorf("a confirmed grant was requeued: %s %+v", tk.State, tk.Failures)
	}
}

// TestGrantLogPrune: grants older than the cutoff are forgotten, so the
// log stays bounded by the grants in flight.
func TestGrantLogPrune(t *testing.T) {
	g := newGrantLog()
	t0 := time.Unix(1000, 0)
	k := func(shard int) protocol.TaskNext {
		return protocol.TaskNext{TaskKey: protocol.TaskKey{Job: "j1", Shard: shard}, Attempt: 1}
	}
	g.add("a", 1, []protocol.TaskNext{k(0)}, t0)
	g.add("a", 2, []protocol.TaskNext{k(1)}, t0.Add(time.Minute))
	g.add("b", 1, []protocol.TaskNext{k(2)}, t0)
	g.prune(t0.Add(time.Second))
	if len(g.pending) != 1 || len(g.pending["a"]) != 1 || g.pending["a"][0].Shard != 1 {
		t.Fatalf("after prune: %+v", g.pending)
	}
	if got := g.unheld("a", 2, nil); len(got) != 0 || len(g.pending["a"]) != 1 {
		t.Fatalf("unheld by the request the grant answered: %+v, pending %+v", got, g.pending)
	}
	if got := g.unheld("a", 3, nil); len(got) != 1 || got[0].Shard != 1 {
		t.Fatalf("unheld: %+v", got)
	}
	if got := g.unheld("a", 4, nil); len(got) != 0 {
		t.Fatalf("unheld twice: %+v", got)
	}
}

// TestNodeSubjectSender: the leader serves each node's own control
// subjects, and refuses a message there that claims another node's id
// (with per-node NATS users, the subject is the node's identity).
func TestNodeSubjectSender(t *testing.T) {
	c := startCluster(t, 1, nil)
	c.serving(10 * time.Second)
	srv := c.members[0].srv
	ctx := context.Background()
	if _, err := srv.SubmitJob(ctx, "j-sender", testSpec(4)); err != nil {
		t.Fatal(err)
	}
	nc := connectNATS(t, c.natsURL)
	lease := func(subject, id string) protocol.LeaseReply {
		t.Helper()
		var r protocol.LeaseReply
		mustRequest(t, nc, subject, protocol.LeaseRequest{Node: protocol.NodeInfo{ID: id, Backend: "cpu", Slots: 1}, Free: 1}, &r)
		return r
	}
	if r := lease(protocol.NodeSubject(protocol.SubjectLease, "n2"), "n1"); protocol.CodeOf(r.Error) != protocol.CodeBadRequest || len(r.Assignments) != 0 {
		t.Fatalf("lease on n2's subject claiming n1: %+v", r)
	}
	r := lease(protocol.NodeSubject(protocol.SubjectLease, "n1"), "n1")
	if r.Error != nil || len(r.Assignments) != 1 {
		t.Fatalf("lease on n1's own subject: %+v", r)
	}
	k, attempt := r.Assignments[0].Task.TaskKey, r.Assignments[0].Task.Attempt
	for _, c := range []struct {
		subject string
		want    protocol.Code
	}{
		{protocol.NodeSubject(protocol.SubjectProgress, "n2"), protocol.CodeBadRequest},
		{protocol.NodeSubject(protocol.SubjectProgress, "n1"), ""},
		{protocol.SubjectProgress, ""},
	} {
		var ack protocol.Ack
		mustRequest(t, nc, c.subject, protocol.ProgressReport{TaskKey: k, Node: "n1", Attempt: attempt, Done: 1}, &ack)
		if got := codeOrEmpty(ack.Error); got != c.want {
			t.Errorf("progress of n1 on %s: %v, want code %q", c.subject, ack.Error, c.want)
		}
	}
	var ack protocol.Ack
	done := protocol.CompleteReport{TaskKey: k, Node: "n1", Attempt: attempt, Result: &protocol.ShardInfo{Node: "n1", Images: 2}}
	mustRequest(t, nc, protocol.NodeSubject(protocol.SubjectComplete, "n2"), done, &ack)
	if protocol.CodeOf(ack.Error) != protocol.CodeBadRequest || srv.Store().Stats().Completions != 0 {
		t.Fatalf("completion of n1 on n2's subject: %+v, %d applied", ack, srv.Store().Stats().Completions)
	}
	ack = protocol.Ack{}
	mustRequest(t, nc, protocol.NodeSubject(protocol.SubjectComplete, "n1"), done, &ack)
	if ack.Error != nil || srv.Store().Stats().Completions != 1 {
		t.Fatalf("completion on n1's own subject: %+v", ack)
	}
}

// TestLostGrantOfDrainingNode: a draining node is not sent its lost
// grant again, however many slots it reports free: it is requeued.
func TestLostGrantOfDrainingNode(t *testing.T) {
	f := newLeaseFixture(t, "j-lost-drain", 4)
	first := f.lease(1, 1).Assignments
	if len(first) != 1 {
		t.Fatalf("granted %d, want 1", len(first))
	}
	f.node.Draining = true
	rep := f.lease(2, 2)
	if tk := f.task(first[0]); len(rep.Assignments) != 0 || tk.State != protocol.TaskQueued || len(tk.Failures) != 1 {
		t.Fatalf("draining node: reply %+v, task %s failures %+v; want nothing sent and the grant requeued", rep, tk.State, tk.Failures)
	}
}

// TestLostGrantResendBounded: a grant whose replies keep getting lost is
// sent again at most maxResends times, then requeued: a node that never
// receives replies cannot hold a shard forever without spending attempts.
func TestLostGrantResendBounded(t *testing.T) {
	f := newLeaseFixture(t, "j-lost-again", 2)
	first := f.lease(1, 1).Assignments
	if len(first) != 1 {
		t.Fatalf("granted %d, want 1", len(first))
	}
	k := first[0].Task.TaskKey
	for seq := uint64(2); seq <= 2+maxResends; seq++ {
		rep := f.lease(seq, 1) // never holds it
		resent := len(rep.Assignments) == 1 && rep.Assignments[0].Task.TaskKey == k && rep.Assignments[0].Task.Attempt == 1
		if want := seq <= 1+maxResends; resent != want {
			t.Fatalf("request %d: re-sent %v, want %v (reply %+v)", seq, resent, want, rep.Assignments)
		}
	}
	if tk := f.task(first[0]); tk.Attempt == 1 && tk.State == protocol.TaskLeased || len(tk.Failures) != 1 {
		t.Fatalf("after %d re-sends: %s attempt %d failures %+v; want attempt 1 requeued", maxResends, tk.State, tk.Attempt, tk.Failures)
	}
}

// TestResendToOvertakenRequest: a lost grant re-sent in answer to a
// request that a later one overtook while the re-send was prepared (the
// later one found nothing to judge: the grant was out of the log) is
// requeued at once — its node no longer waits for the reply, and may be
// busy for longer than the lease.
func TestResendToOvertakenRequest(t *testing.T) {
	f := newLeaseFixture(t, "j-resend-overtaken", 4)
	first := f.lease(1, 1).Assignments // its reply is lost
	if len(first) != 1 {
		t.Fatalf("granted %d, want 1", len(first))
	}
	ctx, now := context.Background(), time.Now()
	f.srv.seqs.overtaken(f.node, 2, now) // request 2 arrives…
	f.srv.seqs.overtaken(f.node, 3, now) // …and request 3 is handled while 2 re-sends
	rep, ok := f.srv.recoverLost(ctx, protocol.LeaseRequest{Node: f.node, Free: 1, Seq: 2}, false)
	if !ok || len(rep.Assignments) != 0 {
		t.Fatalf("recoverLost for the overtaken request: ok=%v, %d assignments; want an empty reply", ok, len(rep.Assignments))
	}
	tk := f.task(first[0])
	if tk.State != protocol.TaskQueued || len(tk.Failures) != 1 || tk.Failures[0].Reason != reasonReplyLost {
		t.Fatalf("grant re-sent to an overtaken request: %s, failures %+v; want queued with %q", tk.State, tk.Failures, reasonReplyLost)
	}
	if !tk.Failures[0].NoFault {
		t.Errorf("the requeue counts against the shard: %+v", tk.Failures[0])
	}
}

func TestGrantCutoff(t *testing.T) {
	ttl, now := 6*time.Second, time.Unix(10_000, 0)
	cases := []struct {
		name  string
		up    bool
		since time.Time
		ok    bool
	}{
		{"link down", false, now.Add(-time.Hour), false},
		{"link back 1 s ago", true, now.Add(-time.Second), false},
		{"link back just under 2 TTLs ago", true, now.Add(-2*ttl + time.Millisecond), false},
		{"link up 2 TTLs", true, now.Add(-2 * ttl), true},
		{"steady", true, now.Add(-time.Hour), true},
	}
	for _, c := range cases {
		cut, ok := grantCutoff(now, c.up, c.since, ttl)
		if ok != c.ok || ok && !cut.Equal(now.Add(-2*ttl)) {
			t.Errorf("%s: cutoff %v, %v; want ok=%v at now-2TTL", c.name, cut, ok, c.ok)
		}
	}
}

// TestGrantTakeBySeq: a grant re-logged by a later request belongs to
// that request; the earlier one cannot take it out (and requeue a grant
// the later reply carries).
func TestGrantTakeBySeq(t *testing.T) {
	g := newGrantLog()
	a := protocol.TaskAttempt{TaskKey: protocol.TaskKey{Job: "j1", Shard: 3}, Attempt: 1}
	g.add("n", 2, []protocol.TaskNext{{TaskKey: a.TaskKey, Attempt: 1}}, time.Unix(1, 0))
	lost := g.unheld("n", 3, nil)
	if len(lost) != 1 {
		t.Fatalf("unheld: %+v", lost)
	}
	g.readd("n", 3, lost[0], time.Unix(2, 0)) // request 3 re-sends it
	if got := g.take("n", 2, []protocol.TaskAttempt{a}); len(got) != 0 {
		t.Fatalf("request 2 took request 3's grant: %+v", got)
	}
	if got := g.take("n", 3, []protocol.TaskAttempt{a}); len(got) != 1 {
		t.Fatalf("request 3 could not take its own grant: %+v", got)
	}
}

// TestPruneLeaseLogs: nothing is pruned while the node link is down or
// just back, except past the backstop; in steady state grants go after 2
// TTLs and request marks after seqMarkTTLs.
func TestPruneLeaseLogs(t *testing.T) {
	ttl, now := 6*time.Second, time.Unix(100_000, 0)
	node := protocol.NodeInfo{ID: "n", StartedAt: time.Unix(1, 0)}
	k := protocol.TaskNext{TaskKey: protocol.TaskKey{Job: "j", Shard: 1}, Attempt: 1}
	cases := []struct {
		name                string
		up                  bool
		since               time.Time
		age                 time.Duration // of the grant and the mark
		grantKept, markKept bool
	}{
		{"down, 3 TTLs old", false, now.Add(-time.Hour), 3 * ttl, true, true},
		{"just back, 3 TTLs old", true, now.Add(-time.Second), 3 * ttl, true, true},
		{"down, past the backstop", false, now.Add(-time.Hour), (maxGrantAgeTTLs + 1) * ttl, false, false},
		{"steady, 3 TTLs old", true, now.Add(-time.Hour), 3 * ttl, false, true},
		{"steady, past the marks' age", true, now.Add(-time.Hour), (seqMarkTTLs + 1) * ttl, false, false},
	}
	for _, c := range cases {
		s := &Server{cfg: Config{LeaseTTL: ttl, Clock: func() time.Time { return now }}, grants: newGrantLog(), seqs: newSeqMarks()}
		s.grants.add("n", 1, []protocol.TaskNext{k}, now.Add(-c.age))
		s.seqs.overtaken(node, 1, now.Add(-c.age))
		s.pruneLeaseLogs(c.up, c.since)
		if kept := len(s.grants.pending["n"]) == 1; kept != c.grantKept {
			t.Errorf("%s: grant kept %v, want %v", c.name, kept, c.grantKept)
		}
		if kept := len(s.seqs.marks) == 1; kept != c.markKept {
			t.Errorf("%s: mark kept %v, want %v", c.name, kept, c.markKept)
		}
	}
}
