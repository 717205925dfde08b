// Package api holds the JSON bodies of the coordinator's HTTP API (v1)
// that are not already protocol types, shared by the server and the Go
// client. Errors are always protocol.Error bodies.
package api

import (
	"net/url"
	"strconv"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// Routes of the v1 API.
const (
	PathJobs    = "/v1/jobs"     // POST: submit (body JobSpec, ?id= optional, 201 Job); GET: JobList (?state=&limit=&after=)
	PathNodes   = "/v1/nodes"    // GET: NodeList
	PathHealth  = "/v1/health"   // GET: Health (no auth)
	PathMetrics = "/metrics"     // GET: Prometheus (public, or the metrics token: Config.MetricsToken)
	MaxBody     = int64(1 << 20) // request bodies larger than this get 413 too_large
	// MaxTaskPage is the most tasks one GET /v1/jobs/{id}?tasks=1 lists
	// (and the default limit): a larger limit is a 400 naming `limit`, not
	// a silent clamp, so a client never mistakes a page for the whole job.
	MaxTaskPage = 1000
	// DefaultJobPage and MaxJobPage are GET /v1/jobs's default and
	// largest limit (a larger one is a 400 naming `limit`, like tasks).
	DefaultJobPage = 100
	MaxJobPage     = 1000
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

// JobList answers GET /v1/jobs?state=&limit=&after=: one page of jobs,
// newest first (submission order reversed), at most limit (default
// DefaultJobPage, at most MaxJobPage) of those in state ("" = all) that
// were submitted before job `after` ("" = from the newest). Next is the
// `after` of the following page, empty on the last one. A listing leaves
// the prompts out — Spec.Prompts.Inline and the file's row index, which
// can be megabytes per job — and gives their count in Spec.Prompts.Rows;
// GET /v1/jobs/{id} returns the full spec (docs/scale.md).
type JobList struct {
	Jobs []protocol.Job `json:"jobs"`
	Next protocol.JobID `json:"next,omitempty"`
}

// JobsPath is GET /v1/jobs with its query (zero values left out).
func JobsPath(state protocol.JobState, after protocol.JobID, limit int) string {
	q := url.Values{}
	if state != "" {
		q.Set("state", string(state))
	}
	if after != "" {
		q.Set("after", string(after))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if len(q) == 0 {
		return PathJobs
	}
	return PathJobs + "?" + q.Encode()
}

// Listed is a job as a listing shows it: the prompts replaced by their
// count (see JobList).
func Listed(j protocol.Job) protocol.Job {
	p := j.Spec.Prompts
	j.Spec.Prompts = protocol.PromptSource{URL: p.URL, Format: p.Format, Rows: p.Count()}
	return j
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
	// Voters are the Raft configuration's servers (empty when shut down).
	Voters []Voter `json:"voters,omitempty"`
	// NATS is this coordinator's NATS connection status (CONNECTED,
	// RECONNECTING, CLOSED, …; "none" without NATS) and Etcd the result of
	// its last etcd probe ("ok", "alarm …" naming etcd's active alarms,
	// or the error; "none" without etcd), probed at most every few
	// seconds.
	NATS string `json:"nats,omitempty"`
	Etcd string `json:"etcd,omitempty"`
	// JobSpecBytes is what the held jobs' specs take, finished jobs
	// included, as --max-job-bytes counts them, and MaxJobBytes that
	// bound (0: none); both only with the token.
	JobSpecBytes int64 `json:"job_spec_bytes,omitempty"`
	MaxJobBytes  int64 `json:"max_job_bytes,omitempty"`
	// FeaturesInUse are the gated features the replicated state used,
	// each with the Raft index that first used it: a coordinator may be
	// rolled back only to a release that knows all of them
	// (docs/deploy.md §5); only with the token.
	FeaturesInUse map[string]uint64 `json:"features_in_use,omitempty"`
	// DataFreeBytes is the free space on this coordinator's data disk
	// (its Raft log and snapshots) and MinDataFree the --min-data-free
	// below which its submits are refused while it leads (0: none); both
	// only with the token.
	DataFreeBytes int64 `json:"data_free_bytes,omitempty"`
	MinDataFree   int64 `json:"min_data_free,omitempty"`
	// EtcdMembers is each etcd endpoint's database space, as the last
	// probe saw it (coordinator/etcdspace.go); only with the token.
	EtcdMembers []EtcdMember `json:"etcd_members,omitempty"`
}

// EtcdMember is one etcd endpoint's database: its file's size, the part
// of it in use (the rest is freed by compaction and comes back only when
// the member is defragmented) and the quota past which etcd refuses
// writes; Error when the endpoint did not answer.
type EtcdMember struct {
	Endpoint     string `json:"endpoint"`
	DBBytes      int64  `json:"db_bytes,omitempty"`
	DBInUseBytes int64  `json:"db_in_use_bytes,omitempty"`
	QuotaBytes   int64  `json:"quota_bytes,omitempty"`
	Error        string `json:"error,omitempty"`
}

// Voter is one server of the Raft configuration.
type Voter struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Suffrage string `json:"suffrage"` // Voter, Nonvoter, Staging
	Leader   bool   `json:"leader,omitempty"`
	// DataFreeBytes is the free space its data disk last published in
	// etcd (0: none known; with the token only).
	DataFreeBytes int64 `json:"data_free_bytes,omitempty"`
}

// PathEvents is the live event stream (GET, Server-Sent Events; see
// docs/architecture.md, "Event stream"). Query: ?job= and ?node= filter
// (each repeatable: an event passes when its job is one of the ?job= values
// and its node one of the ?node= values, for each filter given; reset
// events always pass); ?since=ID resumes after an event id like the Last-Event-ID
// header does (the header wins). Without either the stream starts live.
// Each SSE message is `id: N` and `data: Event`; a comment line
// (": ping") every EventHeartbeat keeps proxies from closing it. 503
// unavailable beyond the coordinator's concurrent stream limit.
const PathEvents = "/v1/events"

// EventHeartbeat is how often an idle event stream sends a comment.
const EventHeartbeat = 15 * time.Second

// Event types.
const (
	EventJob      = "job"      // a job's state changed (submitted, running, paused, done, deleted, ...)
	EventTask     = "task"     // a shard's state changed (leased, done, queued again, failed)
	EventProgress = "progress" // a leased shard made images
	EventNode     = "node"     // a node joined, left, or was drained/undrained/disabled
	EventReset    = "reset"    // history was lost (resume point older than the ring): reload the state
)

// Job states that only events carry.
const (
	EventJobDeleted = "deleted" // the job was removed from the state (rm or retention)
)

// Node event states.
const (
	NodeJoined   = "joined"   // its etcd announcement appeared
	NodeLeft     = "left"     // its announcement expired or was revoked
	NodeDraining = "draining" // it announced it drains (its own shutdown)
	NodeDrained  = "drained"  // drained through the API (no new leases)
	NodeDisabled = "disabled" // disabled through the API
	NodeUndrain  = "undrained"
)

// Event is one message of the event stream. ID orders a coordinator's
// stream: it is the Raft index of the entry that caused the event times
// 4096 plus the event's rank within the entry, so every voter gives a
// replicated change the same id (node join/leave come from etcd, not the
// log: their ids are local to the coordinator). Fields are set by type:
//
//	job:      job, state, images_done, images, shards_done, shards, [paused], [manifest], [reason]
//	task:     job, shard, attempt, state, [node], [reason], shard_done, and the job's images_done, images, shards_done, shards
//	progress: job, shard, attempt, node, shard_done (the shard's images), images_done, images (the job's)
//	node:     node, state, [reason] (why a draining node restarts)
//	reset:    nothing else
type Event struct {
	ID         uint64         `json:"id"`
	Type       string         `json:"type"`
	Job        protocol.JobID `json:"job,omitempty"`
	Shard      *int           `json:"shard,omitempty"`
	Attempt    int            `json:"attempt,omitempty"`
	Node       string         `json:"node,omitempty"`
	State      string         `json:"state,omitempty"`
	Paused     bool           `json:"paused,omitempty"`
	Manifest   bool           `json:"manifest,omitempty"` // a done job's manifest is recorded
	ShardDone  int            `json:"shard_done,omitempty"`
	ImagesDone int64          `json:"images_done,omitempty"`
	Images     int64          `json:"images,omitempty"`
	ShardsDone int            `json:"shards_done,omitempty"`
	Shards     int            `json:"shards,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	Time       time.Time      `json:"time,omitzero"`
}

// EventFilter selects events by job and node (empty: all).
type EventFilter struct {
	Jobs  []protocol.JobID
	Nodes []string
}

// MaxEventFilterValues bounds each list of an EventFilter (?job=, ?node=):
// the coordinator matches every event against every open stream's filter
// while it publishes, on its Raft apply path, so a filter's size is not
// the client's to choose (docs/architecture.md, "Event stream").
const MaxEventFilterValues = 64
