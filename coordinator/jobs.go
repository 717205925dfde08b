package coordinator

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"github.com/hashicorp/raft"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// SubmitJob validates a spec and commits a JobSubmit (leader only). The
// job's tasks are implied by its spec (no per-shard records), so a job of
// millions of shards commits in one small entry. A non-empty id makes the
// submit idempotent: resubmitting the same spec under the same id returns
// the existing job (clients retry with it after a leader change).
func (s *Server) SubmitJob(ctx context.Context, id protocol.JobID, spec protocol.JobSpec) (protocol.Job, error) {
	spec = spec.ExpandPreset() // stored, scheduled and run as its config and checkpoint (docs/nvlabs.md)
	if err := validateSpec(spec, nil); err != nil {
		return protocol.Job{}, err
	}
	if err := s.checkAllowed(spec); err != nil {
		return protocol.Job{}, err
	}
	if id == "" {
		id = protocol.NewJobID()
	} else if err := protocol.CheckJobID(id); err != nil {
		return protocol.Job{}, err
	}
	if j, ok := s.store.JobByID(id); ok {
		return existing(j, spec)
	}
	if err := s.checkDataDisk(specBytes(spec)); err != nil {
		return protocol.Job{}, err
	}
	if err := s.checkVoterDisks(ctx, specBytes(spec)); err != nil {
		return protocol.Job{}, err
	}
	release, err := s.reserveRoom(spec) // room.go
	if err != nil {
		return protocol.Job{}, err
	}
	defer release()
	typ, submit := s.submitCommand(ctx, protocol.Job{ID: id, Spec: spec})
	if _, err := s.apply(ctx, typ, submit); err != nil {
		if j, ok := s.store.JobByID(id); ok && protocol.CodeOf(err) == protocol.CodeConflict {
			return existing(j, spec)
		}
		if protocol.CodeOf(err) == protocol.CodeTooLarge {
			return protocol.Job{}, s.noRoom(s.store.SpecBytes(), specBytes(spec)) // the log's own check (room.go)
		}
		return protocol.Job{}, err
	}
	j, _ := s.store.JobByID(id)
	s.log.Info("job submitted", "job_id", id, "shards", j.Shards, "images", j.Images)
	return j, nil
}

// validateSpec returns a bad_request error with field errors.
func validateSpec(spec protocol.JobSpec, body []byte) error {
	err := spec.CheckBody(body)
	var v protocol.ValidationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &v):
		return v.AsError()
	}
	return protocol.Errorf(protocol.CodeBadRequest, "%v", err)
}

func existing(j protocol.Job, spec protocol.JobSpec) (protocol.Job, error) {
	if !reflect.DeepEqual(j.Spec, spec) {
		return protocol.Job{}, &protocol.Error{Code: protocol.CodeConflict, Message: fmt.Sprintf("job %s exists with a different spec", j.ID),
			Fields: []protocol.FieldError{{Field: "id", Value: string(j.ID), Problem: "taken by a job with a different spec"}}}
	}
	return j, nil
}

// CancelJob commits a JobCancel (leader only).
func (s *Server) CancelJob(ctx context.Context, id protocol.JobID, reason string) (protocol.Job, error) {
	if _, ok := s.store.JobByID(id); !ok {
		return protocol.Job{}, jobNotFound(string(id))
	}
	if _, err := s.apply(ctx, protocol.CmdJobCancel, protocol.JobCancel{ID: id, Reason: reason, At: s.cfg.Clock()}); err != nil {
		return protocol.Job{}, err
	}
	j, _ := s.store.JobByID(id)
	s.log.Info("job cancelled", "job_id", id, "reason", reason)
	return j, nil
}

// JobDetail returns a job with its task counts and, when limit > 0, up to
// min(limit, api.MaxTaskPage) tasks from shard `from` on. The page is
// capped here too, not only in the HTTP layer: a listing's cost must
// never follow a client-given number.
func (s *Server) JobDetail(id protocol.JobID, from, limit int) (api.JobDetail, bool) {
	j, ok := s.store.JobByID(id)
	if !ok {
		return api.JobDetail{}, false
	}
	c, _ := s.store.TaskCounts(id)
	d := api.JobDetail{Job: j, Counts: api.TaskCounts(c)}
	if limit > 0 && from >= 0 && from < j.Shards {
		d.Tasks = s.store.TasksByJob(id, from, min(limit, api.MaxTaskPage))
	}
	return d, true
}

// Jobs lists jobs (state "" = all).
func (s *Server) Jobs(st protocol.JobState) []protocol.Job { return s.store.Jobs(st) }

// JobsPage lists one page of jobs, newest first (state.Store.JobsPage).
func (s *Server) JobsPage(st protocol.JobState, after protocol.JobID, limit int) ([]protocol.Job, protocol.JobID, bool) {
	return s.store.JobsPage(st, after, limit)
}

// Health describes this server's Raft role.
func (s *Server) Health() api.Health {
	h := api.Health{ID: s.cfg.ID, Role: "shutdown", RaftState: "shutdown", Time: s.cfg.Clock(),
		AppliedIndex: s.store.Index()}
	r := s.getRaft()
	if r == nil {
		return h
	}
	st := r.State()
	h.RaftState = st.String()
	h.Role = map[raft.RaftState]string{raft.Leader: "leader", raft.Follower: "follower", raft.Candidate: "candidate"}[st]
	if h.Role == "" {
		h.Role = "shutdown"
	}
	h.Leader, h.LeaderAddr = s.Leader()
	stats := r.Stats()
	h.Term, _ = strconv.ParseUint(stats["term"], 10, 64)
	h.LastIndex, _ = strconv.ParseUint(stats["last_log_index"], 10, 64)
	s.clusterHealth(&h, r)
	return h
}
