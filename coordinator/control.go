package coordinator

import (
	"context"
	"fmt"
	"regexp"

	"github.com/sanafarm/sanafarm/protocol"
)

// Job and node control (docs/architecture.md, "Job and node control"):
// the leader-side operations behind the API's pause, resume, retry,
// priority, delete and drain endpoints. Each commits one control command
// (protocol/control.go); the FSM decides, so every voter agrees and a new
// leader keeps the outcome.

// control commits a control command for job id and returns the job after
// it (leader only).
func (s *Server) control(ctx context.Context, id protocol.JobID, t protocol.CommandType, payload any) (protocol.Job, error) {
	if _, ok := s.store.JobByID(id); !ok {
		return protocol.Job{}, jobNotFound(string(id))
	}
	if _, err := s.apply(ctx, t|protocol.IgnoreUnknown, payload); err != nil {
		return protocol.Job{}, err
	}
	j, _ := s.store.JobByID(id)
	s.log.Info("job "+t.String(), "job_id", id, "state", j.State, "paused", j.Paused, "priority", j.EffectivePriority())
	return j, nil
}

// PauseJob pauses (paused) or resumes an active job.
func (s *Server) PauseJob(ctx context.Context, id protocol.JobID, paused bool) (protocol.Job, error) {
	return s.control(ctx, id, protocol.CmdJobPause, protocol.JobPause{ID: id, Paused: paused, At: s.cfg.Clock()})
}

// RetryJob requeues a job's failed shards; a failed job runs again.
func (s *Server) RetryJob(ctx context.Context, id protocol.JobID) (protocol.Job, error) {
	return s.control(ctx, id, protocol.CmdJobRetry, protocol.JobRetry{ID: id, At: s.cfg.Clock()})
}

// SetPriority changes a job's scheduling priority.
func (s *Server) SetPriority(ctx context.Context, id protocol.JobID, prio int) (protocol.Job, error) {
	return s.control(ctx, id, protocol.CmdJobPriority, protocol.JobPriority{ID: id, Priority: prio, At: s.cfg.Clock()})
}

// DeleteJob removes a finished job from the state (its outputs stay).
// Without force, a job whose manifest is not written yet is refused: the
// manifest would never be written (writing it needs the job's state).
func (s *Server) DeleteJob(ctx context.Context, id protocol.JobID, force bool) error {
	j, ok := s.store.JobByID(id)
	switch {
	case !ok:
		return jobNotFound(string(id))
	case !j.State.Terminal():
		return protocol.Errorf(protocol.CodeConflict, "job %s is %s: cancel it first, only finished jobs are deleted", id, j.State)
	case j.ManifestAt.IsZero() && !force:
		return protocol.Errorf(protocol.CodeConflict,
			"job %s: its manifest is not written yet (retry shortly, or force to delete without one)", id)
	}
	if _, err := s.apply(ctx, protocol.CmdJobDelete|protocol.IgnoreUnknown, protocol.JobDelete{IDs: []protocol.JobID{id}, At: s.cfg.Clock()}); err != nil {
		return err
	}
	s.log.Info("job deleted", "job_id", id, "state", j.State)
	return nil
}

// reNodeID is the shape of a node id (protocol.HostnameID's alphabet).
var reNodeID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,253}$`)

// checkNodeID refuses a node id that no node could have.
func checkNodeID(id string) error {
	if !reNodeID.MatchString(id) {
		return &protocol.Error{Code: protocol.CodeBadRequest, Message: fmt.Sprintf("invalid node id %q", shortValue(id)),
			Fields: []protocol.FieldError{{Field: "node", Value: shortValue(id), Problem: "want 1-253 of [A-Za-z0-9._-]"}}}
	}
	return nil
}

// DrainNode sets a node's control state: drain (no new leases, running
// shards finish), disable (drain, and its current leases are handed back
// to the queue at once, without a blocklist strike) or neither
// (undrain). The node need not be live: a drain set before it joins holds.
func (s *Server) DrainNode(ctx context.Context, node string, drain, disable bool) (protocol.NodeControl, error) {
	if err := checkNodeID(node); err != nil {
		return protocol.NodeControl{}, err
	}
	c := protocol.NodeDrain{Node: node, Drain: drain || disable, Disable: disable, At: s.cfg.Clock()}
	if _, err := s.apply(ctx, protocol.CmdNodeDrain|protocol.IgnoreUnknown, c); err != nil {
		return protocol.NodeControl{}, err
	}
	s.log.Info("node control", "node_id", node, "drain", c.Drain, "disable", disable)
	if disable {
		s.requeue(ctx, s.store.LeasesByNode()[node], node, "node disabled", failNoFault)
	}
	nc, _ := s.store.NodeControl(node)
	return nc, nil
}

// controlled marks a node the state drains as draining (the scheduler,
// gangs and the stuck-job check all honour NodeInfo.Draining).
func (s *Server) controlled(n protocol.NodeInfo) protocol.NodeInfo {
	if c, ok := s.store.NodeControl(n.ID); ok && c.Drain {
		n.Draining = true
	}
	return n
}

// liveNodes is the node view with the state's drains applied.
func (s *Server) liveNodes() map[string]protocol.NodeInfo {
	nodes := s.nodes.all()
	for id, n := range nodes {
		nodes[id] = s.controlled(n)
	}
	return nodes
}
