package state

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// A done shard is most of a long-running farm's state, so the snapshot
// writes the common case — one node, one attempt, no failures, the shard's
// own sample range — as a short positional record (docs/scale.md: at most
// 200 bytes per finished shard); anything else is a full task record.
//
//	{"type":"done","done":[shard,attempt,at_unix_nano,images,failed,bytes,seconds,"node",objects,"sha256",reused]}
type doneRecord struct {
	Shard, Attempt int
	At             int64 // the completion time (Task.Deadline), Unix nanoseconds
	Images, Failed int
	Bytes          int64
	Seconds        float64
	Node           string
	Objects        int
	Digest         string
	Reused         bool
}

// Years whose Unix nanoseconds fit an int64 (1678–2262), with margin.
var (
	minDoneAt = time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDoneAt = time.Date(2250, 1, 1, 0, 0, 0, 0, time.UTC)
)

// compactDone returns t's short record when t is a plain done shard of e.
func compactDone(e *jobEntry, t protocol.Task) (*doneRecord, bool) {
	r := t.Result
	if t.State != protocol.TaskDone || r == nil || len(r.Objects) > 0 || t.Job != e.job.ID ||
		t.Assignee != r.Node || t.Progress != r.Images || len(t.Peers) > 0 || len(t.Failures) > 0 ||
		t.RetryBase != 0 || t.Deadline.Before(minDoneAt) || t.Deadline.After(maxDoneAt) ||
		math.IsNaN(r.Seconds) || math.IsInf(r.Seconds, 0) {
		return nil, false
	}
	if start, end := e.job.Spec.SampleRange(t.Shard); start != t.Start || end != t.End {
		return nil, false
	}
	return &doneRecord{Shard: t.Shard, Attempt: t.Attempt, At: t.Deadline.UnixNano(), Images: r.Images,
		Failed: r.Failed, Bytes: r.Bytes, Seconds: r.Seconds, Node: r.Node, Objects: r.ObjectCount,
		Digest: r.Digest, Reused: r.Reused}, true
}

// task expands the record into job e's task.
func (d *doneRecord) task(e *jobEntry) protocol.Task {
	start, end := e.job.Spec.SampleRange(d.Shard)
	return protocol.Task{TaskKey: protocol.TaskKey{Job: e.job.ID, Shard: d.Shard}, Start: start, End: end,
		State: protocol.TaskDone, Attempt: d.Attempt, Assignee: d.Node, Deadline: time.Unix(0, d.At).UTC(),
		Progress: d.Images, Result: &protocol.ShardInfo{Node: d.Node, Images: d.Images, Failed: d.Failed,
			Bytes: d.Bytes, Seconds: d.Seconds, ObjectCount: d.Objects, Digest: d.Digest, Reused: d.Reused}}
}

func (d *doneRecord) MarshalJSON() ([]byte, error) {
	reused := 0
	if d.Reused {
		reused = 1
	}
	return json.Marshal([]any{d.Shard, d.Attempt, d.At, d.Images, d.Failed, d.Bytes, d.Seconds, d.Node,
		d.Objects, d.Digest, reused})
}

func (d *doneRecord) UnmarshalJSON(b []byte) error {
	var reused int
	fields := []any{&d.Shard, &d.Attempt, &d.At, &d.Images, &d.Failed, &d.Bytes, &d.Seconds, &d.Node,
		&d.Objects, &d.Digest, &reused}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("done record: %w", err)
	}
	if len(raw) != len(fields) {
		return fmt.Errorf("done record: %d fields, want %d", len(raw), len(fields))
	}
	for i, f := range fields {
		if err := json.Unmarshal(raw[i], f); err != nil {
			return fmt.Errorf("done record field %d: %w", i, err)
		}
	}
	d.Reused = reused != 0
	return nil
}
