package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/protocol"
)

// Node traffic: the leader answers lease, progress and completion requests
// on NATS, all concurrently (bounded) so their Raft applies batch. Picks
// are serialised and reserve their tasks until committed (reserve.go).

const (
	trafficTimeout    = 10 * time.Second
	maxConcurrentAcks = 64
	// maxConcurrentLeases bounds lease requests in flight, held gang
	// requests included (one per node at most).
	maxConcurrentLeases = 1024
)

func (s *Server) subscribe() ([]*nats.Subscription, error) {
	nc := s.cfg.NATS
	if nc == nil {
		return nil, nil
	}
	// Lease requests have their own bound: a gang member's request is
	// held up to GangHold (gang.go) and must not delay progress reports.
	acks, leases := make(chan struct{}, maxConcurrentAcks), make(chan struct{}, maxConcurrentLeases)
	bounded := func(sem chan struct{}, h nats.MsgHandler) nats.MsgHandler {
		return func(m *nats.Msg) {
			sem <- struct{}{}
			go func() { defer func() { <-sem }(); h(m) }()
		}
	}
	concurrent := func(h nats.MsgHandler) nats.MsgHandler { return bounded(acks, h) }
	var subs []*nats.Subscription
	for _, sub := range []struct {
		subject string
		h       nats.MsgHandler
	}{
		{protocol.SubjectLease, bounded(leases, s.onLease)},
		{protocol.SubjectProgress, concurrent(s.onProgress)},
		{protocol.SubjectComplete, concurrent(s.onComplete)},
	} {
		// The bare subject (shared node user, older nodes) and every
		// node's own (protocol.NodeSubject; checkSender).
		for _, subject := range []string{sub.subject, sub.subject + ".*"} {
			ss, err := nc.Subscribe(subject, sub.h)
			if err != nil {
				return subs, err
			}
			subs = append(subs, ss)
		}
	}
	// A flush cut short by a dropped connection is no failure: the client
	// sends its subscriptions again when it reconnects.
	if err := nc.FlushTimeout(2 * time.Second); err != nil {
		s.log.Warn("flushing the subscriptions to node traffic (they are sent again on reconnect)", "err", err)
	}
	return subs, nil
}

func (s *Server) respond(m *nats.Msg, v any) {
	b, err := json.Marshal(v)
	if err == nil {
		err = m.Respond(b)
	}
	if err != nil {
		s.log.Warn("answering node", "subject", m.Subject, "err", err)
	}
}

func (s *Server) onLease(m *nats.Msg) {
	defer s.noteNodeTraffic()                       // once handled: a progress report is buffered first
	req, err := protocol.DecodeLeaseRequest(m.Data) // bounded: any NATS client can publish here
	if err == nil {
		err = protocol.CheckSender(m.Subject, protocol.SubjectLease, req.Node.ID)
	}
	if err != nil {
		s.respond(m, protocol.LeaseReply{Error: wireError(err)})
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), trafficTimeout)
	defer cancel()
	start := time.Now()
	rep := s.Lease(ctx, req)
	if len(rep.Assignments) > 0 {
		rep.Now = s.cfg.Clock() // the deadlines are read against it (protocol.LeaseReply.Now)
	}
	s.metrics.leased(rep, time.Since(start))
	s.respond(m, rep)
}

func (s *Server) onProgress(m *nats.Msg) {
	defer s.noteNodeTraffic() // once handled: a progress report is buffered first
	rep, err := protocol.DecodeProgressReport(m.Data)
	if err == nil {
		err = protocol.CheckSender(m.Subject, protocol.SubjectProgress, rep.Node)
	}
	if err != nil {
		s.respond(m, protocol.Ack{Error: wireError(err)})
		return
	}
	s.respond(m, s.Progress(rep))
}

func (s *Server) onComplete(m *nats.Msg) {
	defer s.noteNodeTraffic() // once handled: a progress report is buffered first
	rep, err := protocol.DecodeCompleteReport(m.Data)
	if err == nil {
		err = protocol.CheckSender(m.Subject, protocol.SubjectComplete, rep.Node)
	}
	if err != nil {
		s.respond(m, protocol.Ack{Error: wireError(err)})
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), trafficTimeout)
	defer cancel()
	s.respond(m, s.Complete(ctx, rep))
}

// wireError converts an error to its wire form.
func wireError(err error) *protocol.Error {
	var pe *protocol.Error
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.Is(err, ErrNotLeader):
		return protocol.Errorf(protocol.CodeNotLeader, "%v", err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	return protocol.Errorf(protocol.CodeInternal, "%v", err)
}

// Lease answers a lease request (the NATS handler's body, exported for
// benchmarks): pick tasks, commit one TaskAssign, return the granted
// assignments with their job specs.
func (s *Server) Lease(ctx context.Context, req protocol.LeaseRequest) protocol.LeaseReply {
	if req.Node.ID == "" || req.Free < 0 {
		return protocol.LeaseReply{Error: protocol.Errorf(protocol.CodeBadRequest, "lease request needs a node id and free >= 0")}
	}
	if !s.IsLeader() {
		return protocol.LeaseReply{Error: protocol.Errorf(protocol.CodeNotLeader, "%s is not the leader", s.cfg.ID)}
	}
	s.noteIncarnation(ctx, req.Node) // a restarted node's old leases go back first (membership.go)
	if s.seqs.overtaken(req.Node, req.Seq, s.cfg.Clock()) {
		s.log.Debug("lease request overtaken by a later one of its node", "node_id", req.Node.ID, "seq", req.Seq)
		return protocol.LeaseReply{} // the node no longer waits for this one (leaseseq.go)
	}
	req.Node = s.controlled(req.Node) // drained through the API: nothing new (control.go)
	if s.handBacks.stopping(req.Node) {
		req.Node.Draining = true // it handed shards back: it is stopping (handback.go)
	}
	if s.nodes.isGone(req.Node.ID) {
		s.recoverLost(ctx, req, true) // requeues them
		// Its leases are being requeued (requeueGone): granting more would
		// only requeue them again, each time a blocklist strike.
		return protocol.LeaseReply{Error: protocol.Errorf(protocol.CodeUnavailable,
			"node %s: its etcd announcement expired; no work until it registers again", req.Node.ID)}
	}
	if g := s.gangs.of(req.Node.ID); g != nil && req.Gang {
		return s.awaitGang(ctx, g, req.Node.ID) // its rank first; lost grants wait for the next request
	}
	if rep, ok := s.recoverLost(ctx, req, false); ok { // grants whose reply never reached the node (grants.go)
		return rep
	}
	s.reserved.pick.Lock()
	if g, full := s.joinGang(req); g != nil {
		s.reserved.pick.Unlock()
		if full {
			s.commitGang(ctx, g)
		}
		return s.awaitGang(ctx, g, req.Node.ID)
	}
	now := s.cfg.Clock()
	leases, g := s.openGang(s.cfg.Pick(s.reserved.view(s.store.View()), req, now), req, now)
	s.reserved.add(leases)
	s.reserved.pick.Unlock()
	if g != nil {
		defer s.reserved.release(leases)
		return s.awaitGang(ctx, g, req.Node.ID)
	}
	leases = s.capGrant(ctx, req.Node.ID, leases, now) // under max_payload (leasecap.go)
	defer s.reserved.release(leases)
	if len(leases) == 0 {
		return protocol.LeaseReply{}
	}
	res, err := s.apply(ctx, protocol.CmdTaskAssign, protocol.TaskAssign{Node: req.Node.ID, Leases: leases, At: now})
	if err != nil {
		return protocol.LeaseReply{Error: wireError(err)}
	}
	granted, _ := res.([]protocol.TaskNext)
	return s.grantReply(ctx, req, granted, now)
}

// grantReply answers req with the committed grants, and notes them for
// the node's next request (grants.go) — unless the node sent a later
// request meanwhile: then they are requeued and nothing is sent
// (leaseseq.go).
func (s *Server) grantReply(ctx context.Context, req protocol.LeaseRequest, granted []protocol.TaskNext, now time.Time) protocol.LeaseReply {
	tracked := req.Seq > 0 // a numbered request lists its holds
	if tracked {
		s.grants.add(req.Node.ID, req.Seq, granted, now)
	}
	if s.dropOvertaken(ctx, req, granted, tracked) {
		return protocol.LeaseReply{}
	}
	var reply protocol.LeaseReply
	for _, l := range granted {
		t, _ := s.store.TaskByKey(l.TaskKey)
		j, _ := s.store.JobByID(l.Job)
		// Only this task's inline prompts travel: a whole job's could pass
		// NATS's 1 MiB payload limit.
		spec := j.Spec.ForSamples(t.Start, t.End)
		reply.Assignments = append(reply.Assignments, protocol.Assignment{Task: t, Spec: spec, Deadline: l.Deadline})
		s.log.Debug("task leased", "job_id", l.Job, "shard", l.Shard, "node_id", req.Node.ID, "attempt", l.Attempt)
	}
	return reply
}

// checkAttempt validates a report of node against the state: the job must
// be active, the attempt current and held by node (its assignee, or a rank
// of its gang). done reports a duplicate completion of
// the attempt that is already done (answered as success: the first reply
// may have been lost).
func (s *Server) checkAttempt(k protocol.TaskKey, attempt int, node string) (t protocol.Task, done bool, err error) {
	j, ok := s.store.JobByID(k.Job)
	if !ok {
		return t, false, protocol.Errorf(protocol.CodeNotFound, "job %s not found", k.Job)
	}
	t, ok = s.store.TaskByKey(k)
	switch {
	case !ok:
		return t, false, protocol.Errorf(protocol.CodeNotFound, "task %s not found", k)
	case t.State == protocol.TaskDone && t.Attempt == attempt:
		return t, true, nil
	case j.State.Terminal():
		return t, false, protocol.Errorf(protocol.CodeConflict, "job %s is %s", k.Job, j.State)
	case t.State != protocol.TaskLeased || t.Attempt != attempt:
		return t, false, protocol.Errorf(protocol.CodeStaleAttempt, "task %s: attempt %d is not current (attempt %d, %s)",
			k, attempt, t.Attempt, t.State)
	case t.Assignee != node && !slices.Contains(t.Peers, node):
		// A node that reports for another's lease (a misconfigured
		// duplicate id, a stale process, a forged report) must neither
		// extend nor end it; the attempt is not its own.
		return t, false, protocol.Errorf(protocol.CodeStaleAttempt, "task %s: attempt %d is held by %s, not %s",
			k, attempt, t.Assignee, node)
	}
	return t, false, nil
}

// Progress answers a progress report: a current attempt's lease is
// extended (buffered, committed with the next batch) and the new deadline
// returned; a stale attempt gets CodeStaleAttempt.
func (s *Server) Progress(rep protocol.ProgressReport) protocol.Ack {
	if !s.IsLeader() {
		return protocol.Ack{Error: protocol.Errorf(protocol.CodeNotLeader, "%s is not the leader", s.cfg.ID)}
	}
	t, done, err := s.checkAttempt(rep.TaskKey, rep.Attempt, rep.Node)
	if err != nil {
		return protocol.Ack{Error: wireError(err)}
	}
	if done {
		return protocol.Ack{}
	}
	// The attempt's holder is alive, whatever etcd says (nodegone.go); its
	// id comes from the lease, not from the report's claim.
	now := s.cfg.Clock()
	s.nodes.heardFrom(t.Assignee, now)
	deadline := now.Add(s.cfg.LeaseTTL)
	s.progress.add(protocol.ProgressUpdate{TaskKey: rep.TaskKey, Attempt: rep.Attempt, Done: rep.Done, Deadline: deadline})
	return protocol.Ack{Deadline: deadline, Now: now}
}

// Complete answers a completion: a result commits TaskComplete, an error
// commits TaskFail (the task is requeued); stale attempts are refused.
func (s *Server) Complete(ctx context.Context, rep protocol.CompleteReport) protocol.Ack {
	if !s.IsLeader() {
		return protocol.Ack{Error: protocol.Errorf(protocol.CodeNotLeader, "%s is not the leader", s.cfg.ID)}
	}
	t, done, err := s.checkAttempt(rep.TaskKey, rep.Attempt, rep.Node)
	if err != nil {
		return protocol.Ack{Error: wireError(err)}
	}
	if done {
		return protocol.Ack{}
	}
	if rep.Result != nil && len(t.Peers) > 0 && rep.Node != t.Peers[0] {
		return protocol.Ack{Error: protocol.Errorf(protocol.CodeBadRequest,
			"task %s: only rank 0 (%s) reports the result of a gang attempt, not %s", rep.TaskKey, t.Peers[0], rep.Node)}
	}
	now := s.cfg.Clock()
	if rep.Result != nil {
		// The object keys stay out of the Raft log: their count and digest
		// go in (the shard's _stats.json records the objects; docs/scale.md).
		res := rep.Result.Compact()
		_, err = s.apply(ctx, protocol.CmdTaskComplete, protocol.TaskComplete{TaskKey: rep.TaskKey, Attempt: rep.Attempt, Result: res, At: now})
	} else {
		typ, c := s.failCommand(ctx, protocol.TaskFail{TaskKey: rep.TaskKey, Attempt: rep.Attempt, Node: rep.Node, Reason: rep.Error, At: now}, s.reportedKind(rep, t))
		_, err = s.apply(ctx, typ, c)
	}
	if err != nil {
		if _, done, _ := s.checkAttempt(rep.TaskKey, rep.Attempt, rep.Node); done && rep.Result != nil {
			return protocol.Ack{} // a concurrent duplicate won the race
		}
		return protocol.Ack{Error: wireError(err)}
	}
	s.log.Debug("task reported", "job_id", rep.Job, "shard", rep.Shard, "node_id", rep.Node, "attempt", rep.Attempt, "ok", rep.Result != nil)
	return protocol.Ack{}
}
