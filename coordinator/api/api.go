// Package api holds the JSON bodies of the coordinator's HTTP API (v1)
// that are not already protocol types, shared by the server and the Go
// client. Errors are always protocol.Error bodies.
package api

import (
	"net/url"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// Routes of the v1 API.
const (
	PathJobs    = "/v1/jobs"     // POST: submit (body JobSpec, ?id= optional, 201 Job); GET: list (?state=)
	PathNodes   = "/v1/nodes"    // GET: NodeList
	PathHealth  = "/v1/health"   // GET: Health (no auth)
	PathMetrics = "/metrics"     // GET: Prometheus (no auth)
	MaxBody     = int64(1 << 20) // request bodies larger than this get 413 too_large
	// MaxTaskPage is the most tasks one GET /v1/jobs/{id}?tasks=1 lists
	// (and the default limit): a larger limit is a 400 naming `limit`, not
	// a silent clamp, so a client never mistakes a page for the whole job.
	MaxTaskPage = 1000
	// MaxReason bounds a cancel reason (bytes); it is kept with the job.
	MaxReason = 1024
)

// JobPath is /v1/jobs/{id} (GET: JobDetail, ?tasks=1&from=&limit=, with
// 0 <= limit <= MaxTaskPage). The id is path-escaped: whatever it holds
// ('/', '?', '#'), it stays one path segment.
func JobPath(id protocol.JobID) string { return PathJobs + "/" + url.PathEscape(string(id)) }

// CancelPath is /v1/jobs/{id}/cancel (POST, optional body CancelRequest; 200 Job).
func CancelPath(id protocol.JobID) string { return JobPath(id) + "/cancel" }

// Job and node control (docs/architecture.md, "Job and node control"):
// each POST answers 200 with the Job (or NodeStatus) after the change.
//
//	POST   /v1/jobs/{id}/pause     no new leases; running shards finish
//	POST   /v1/jobs/{id}/resume
//	POST   /v1/jobs/{id}/retry     failed shards back to queued (new attempts)
//	POST   /v1/jobs/{id}/priority  body PriorityRequest
//	DELETE /v1/jobs/{id}           finished jobs only (?force=1: manifest not yet written); 200 Deleted
//	POST   /v1/nodes/{id}/drain | /undrain | /disable

// JobActionPath is /v1/jobs/{id}/{action} (pause, resume, retry, priority).
func JobActionPath(id protocol.JobID, action string) string { return JobPath(id) + "/" + action }

// NodePath is /v1/nodes/{id}, path-escaped like JobPath.
func NodePath(id string) string { return PathNodes + "/" + url.PathEscape(id) }

// NodeActionPath is /v1/nodes/{id}/{action} (drain, undrain, disable).
func NodeActionPath(id, action string) string { return NodePath(id) + "/" + action }

// PriorityRequest is the body of POST /v1/jobs/{id}/priority.
type PriorityRequest struct {
	Priority *int `json:"priority"` // required
}

// Deleted answers DELETE /v1/jobs/{id}.
type Deleted struct {
	ID protocol.JobID `json:"id"`
}

// TaskCounts counts a job's tasks by state.
type TaskCounts struct {
	Queued int `json:"queued"`
	Leased int `json:"leased"`
	Done   int `json:"done"`
	Failed int `json:"failed"`
}

// JobDetail answers GET /v1/jobs/{id}.
type JobDetail struct {
	Job    protocol.Job    `json:"job"`
	Counts TaskCounts      `json:"tasks_by_state"`
	Tasks  []protocol.Task `json:"tasks,omitempty"` // with ?tasks=1 (paged by from/limit)
}

// JobList answers GET /v1/jobs.
type JobList struct {
	Jobs []protocol.Job `json:"jobs"`
}

// CancelRequest is the optional body of a cancel.
type CancelRequest struct {
	Reason string `json:"reason,omitempty"`
}

// NodeStatus is one node as the coordinator sees it: its etcd
// announcement (Live) and the tasks leased to it.
type NodeStatus struct {
	Info   protocol.NodeInfo `json:"info"`
	Live   bool              `json:"live"`
	Leases []protocol.Task   `json:"leases,omitempty"`
	// Control is the node's drain/disable state set through the API (nil:
	// schedulable); Info.Draining is what the node itself announced.
	Control *protocol.NodeControl `json:"control,omitempty"`
}

// NodeList answers GET /v1/nodes.
type NodeList struct {
	Nodes []NodeStatus `json:"nodes"`
}

// Health answers GET /v1/health.
type Health struct {
	ID           string    `json:"id"`
	Role         string    `json:"role"` // leader, follower, candidate, shutdown
	Leader       string    `json:"leader,omitempty"`
	LeaderAddr   string    `json:"leader_addr,omitempty"` // raft address
	RaftState    string    `json:"raft_state"`
	Term         uint64    `json:"term"`
	LastIndex    uint64    `json:"last_index"`
	AppliedIndex uint64    `json:"applied_index"`
	Time         time.Time `json:"time"`
}
