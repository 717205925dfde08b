package coordinator

import (
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/coordinator/state"
	"github.com/sanafarm/sanafarm/protocol"
)

// The FSM's events (docs/architecture.md, "Event stream"): derived from
// each command and the store before and after it applied, so the state
// package needs no hooks. Only reads of the store: Apply is the only
// writer and runs on one goroutine, so before and after are exact.

// applyEvents applies c at index and publishes its events.
func (f *fsm) applyEvents(c command, index uint64) any {
	if f.ev == nil {
		return c.apply(f.st, index)
	}
	pre := eventsBefore(f.st, c)
	resp := c.apply(f.st, index)
	f.ev.publishEntry(index, eventsAfter(f.st, c, pre, resp))
	return resp
}

// eventPre is what a command's events compare against.
type eventPre struct {
	jobs     map[protocol.JobID]protocol.Job
	progress map[protocol.TaskKey]int
}

// touchedJobs names the jobs a command may change (besides submit and delete,
// whose events come from the command and its response).
func touchedJobs(c command) []protocol.JobID {
	switch c := c.(type) {
	case *jobCancel:
		return []protocol.JobID{c.ID}
	case *taskAssign:
		var ids []protocol.JobID
		for _, l := range c.Leases {
			ids = append(ids, l.Job)
		}
		return ids
	case *taskProgress:
		var ids []protocol.JobID
		for _, u := range c.Updates {
			ids = append(ids, u.Job)
		}
		return ids
	case *taskComplete:
		return []protocol.JobID{c.Job}
	case *taskFail:
		return []protocol.JobID{c.Job}
	case *jobManifest:
		return []protocol.JobID{c.ID}
	case *jobPause:
		return []protocol.JobID{c.ID}
	case *jobRetry:
		return []protocol.JobID{c.ID}
	case *jobPriority:
		return []protocol.JobID{c.ID}
	}
	return nil
}

func eventsBefore(st *state.Store, c command) eventPre {
	pre := eventPre{jobs: map[protocol.JobID]protocol.Job{}}
	for _, id := range touchedJobs(c) {
		if _, ok := pre.jobs[id]; !ok {
			j, _ := st.JobByID(id)
			pre.jobs[id] = j
		}
	}
	if p, ok := c.(*taskProgress); ok {
		pre.progress = make(map[protocol.TaskKey]int, len(p.Updates))
		for _, u := range p.Updates {
			t, _ := st.TaskByKey(u.TaskKey)
			pre.progress[u.TaskKey] = t.Progress
		}
	}
	return pre
}

// eventsAfter lists a command's events: the shards' first, then each job
// whose state, pause, manifest or priority changed.
func eventsAfter(st *state.Store, c command, pre eventPre, resp any) []api.Event {
	if _, failed := resp.(error); failed {
		return nil
	}
	var evs []api.Event
	switch c := c.(type) {
	case *jobSubmit:
		if j, ok := st.JobByID(c.Job.ID); ok {
			return []api.Event{jobEvent(j, c.At)}
		}
		return nil
	case *jobDelete:
		ids, _ := resp.([]protocol.JobID)
		for _, id := range ids {
			evs = append(evs, api.Event{Type: api.EventJob, Job: id, State: api.EventJobDeleted, Time: c.At})
		}
		return evs
	case *nodeDrain:
		if nc, _ := st.NodeControl(c.Node); c.Auto && !nc.Auto {
			return nil // the operator's drain stayed (state.Store.DrainNode)
		}
		return []api.Event{nodeDrainEvent(protocol.NodeDrain(*c))}
	case *taskAssign:
		grants, _ := resp.([]protocol.TaskNext)
		for _, l := range grants {
			evs = append(evs, taskEvent(st, l.TaskKey, c.Node, "", c.At))
		}
	case *taskProgress:
		evs = progressEvents(st, c, pre)
	case *taskComplete:
		evs = append(evs, taskEvent(st, c.TaskKey, c.Result.Node, "", c.At))
	case *taskFail:
		evs = append(evs, taskEvent(st, c.TaskKey, c.Node, c.Reason, c.At))
	}
	return append(evs, jobChanges(st, c, pre)...)
}

// jobChanges are the job events of the jobs pre holds whose state
// changed (in the command's order; a priority change always counts).
func jobChanges(st *state.Store, c command, pre eventPre) []api.Event {
	var evs []api.Event
	seen := map[protocol.JobID]bool{}
	_, priority := c.(*jobPriority)
	for _, id := range touchedJobs(c) {
		if seen[id] {
			continue
		}
		seen[id] = true
		j, ok := st.JobByID(id)
		b := pre.jobs[id]
		if !ok || (!priority && j.State == b.State && j.Paused == b.Paused && j.ManifestAt.Equal(b.ManifestAt) &&
			j.Retries == b.Retries) {
			continue
		}
		evs = append(evs, jobEvent(j, commandTime(c)))
	}
	return evs
}

// progressEvents: one per shard whose images done changed.
func progressEvents(st *state.Store, c *taskProgress, pre eventPre) []api.Event {
	var evs []api.Event
	for _, u := range c.Updates {
		t, ok := st.TaskByKey(u.TaskKey)
		if !ok || t.State != protocol.TaskLeased || t.Attempt != u.Attempt || t.Progress == pre.progress[u.TaskKey] {
			continue
		}
		j, _ := st.JobByID(u.Job)
		shard := u.Shard
		evs = append(evs, api.Event{Type: api.EventProgress, Job: u.Job, Shard: &shard, Attempt: t.Attempt,
			Node: t.Assignee, ShardDone: t.Progress, ImagesDone: j.ImagesDone, Images: j.Images, Time: c.At})
	}
	return evs
}

// taskEvent is a shard's state after a command (node: the command's, else
// the task's assignee).
func taskEvent(st *state.Store, k protocol.TaskKey, node, reason string, at time.Time) api.Event {
	t, _ := st.TaskByKey(k)
	j, _ := st.JobByID(k.Job)
	if node == "" {
		node = t.Assignee
	}
	shard := k.Shard
	return api.Event{Type: api.EventTask, Job: k.Job, Shard: &shard, Attempt: t.Attempt, Node: node,
		State: string(t.State), ShardDone: t.Progress, ImagesDone: j.ImagesDone, Images: j.Images,
		ShardsDone: j.ShardsDone, Shards: j.Shards, Reason: reason, Time: at}
}

func nodeDrainEvent(c protocol.NodeDrain) api.Event {
	st := api.NodeUndrain
	switch {
	case c.Disable:
		st = api.NodeDisabled
	case c.Drain:
		st = api.NodeDrained
	}
	return api.Event{Type: api.EventNode, Node: c.Node, State: st, Reason: c.Reason, Time: c.At}
}

// commandTime is the leader's clock of a job command.
func commandTime(c command) time.Time {
	switch c := c.(type) {
	case *jobCancel:
		return c.At
	case *taskAssign:
		return c.At
	case *taskProgress:
		return c.At
	case *taskComplete:
		return c.At
	case *taskFail:
		return c.At
	case *jobManifest:
		return c.At
	case *jobPause:
		return c.At
	case *jobRetry:
		return c.At
	case *jobPriority:
		return c.At
	}
	return time.Time{}
}
