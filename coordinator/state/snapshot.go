package state

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/sanafarm/sanafarm/protocol"
)

// snapshotVersion is the format of persisted snapshots: 2 adds the short
// "done" record (snapshot_done.go); version 1 snapshots still load, their
// shards' object keys dropped (ShardInfo.Compact).
const (
	snapshotVersion   = 2
	snapshotVersionV1 = 1
)

// Snapshot is an immutable point-in-time copy of the store (see the
// package comment for the copy-on-write contract).
type Snapshot struct {
	index uint64
	stats Stats
	jobs  map[protocol.JobID]*jobEntry
	order []protocol.JobID
	nodes map[string]protocol.NodeControl // never written: replaced on change
	// features: likewise (features.go)
	features map[string]uint64
}

// Snapshot captures the current state in O(jobs).
func (s *Store) Snapshot() *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := &Snapshot{index: s.index, stats: s.stats, jobs: maps.Clone(s.jobs), order: slices.Clone(s.order),
		nodes: s.nodes, features: s.features}
	s.gen++ // every entry now belongs to the snapshot: writers clone first
	return snap
}

// Index is the last Raft index the snapshot includes.
func (sn *Snapshot) Index() uint64 { return sn.index }

// Snapshot stream: a header, then for each job one job record followed by
// its materialized tasks, one JSON record per line.
type header struct {
	Version int    `json:"version"`
	Index   uint64 `json:"index"`
	Stats   Stats  `json:"stats"`
	Jobs    int    `json:"jobs"`
	// Nodes are the nodes' control states (drain, disable); an older
	// server ignores the field.
	Nodes map[string]protocol.NodeControl `json:"nodes,omitempty"`
	// Features are the gated features the state used (features.go): a
	// reader that does not know one refuses the snapshot. Releases before
	// the field ignore it.
	Features map[string]uint64 `json:"features,omitempty"`
}

type record struct {
	Type string         `json:"type"` // "job" or "task"
	Job  *jobRecord     `json:"job,omitempty"`
	Task *protocol.Task `json:"task,omitempty"`
	Done *doneRecord    `json:"done,omitempty"`
}

type jobRecord struct {
	Job     protocol.Job   `json:"job"`
	Cursor  int            `json:"cursor"`
	Requeue []int          `json:"requeue,omitempty"`
	Fails   map[string]int `json:"fails,omitempty"`
	Tasks   int            `json:"tasks"` // materialized task records that follow
}

// WriteTo streams the snapshot to w.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(header{Version: snapshotVersion, Index: sn.index, Stats: sn.stats, Jobs: len(sn.order), Nodes: sn.nodes,
		Features: sn.features}); err != nil {
		return cw.n, fmt.Errorf("writing snapshot header: %w", err)
	}
	for _, id := range sn.order {
		e := sn.jobs[id]
		jr := &jobRecord{Job: e.job, Cursor: e.cursor, Requeue: e.requeue, Fails: e.fails, Tasks: len(e.tasks)}
		if err := enc.Encode(record{Type: "job", Job: jr}); err != nil {
			return cw.n, fmt.Errorf("writing job %s: %w", id, err)
		}
		for _, i := range slices.Sorted(maps.Keys(e.tasks)) {
			t := e.tasks[i]
			rec := record{Type: "task", Task: &t}
			if d, ok := compactDone(e, t); ok {
				rec = record{Type: "done", Done: d}
			}
			if err := enc.Encode(rec); err != nil {
				return cw.n, fmt.Errorf("writing task %s: %w", t.TaskKey, err)
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return cw.n, fmt.Errorf("writing snapshot: %w", err)
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ReadSnapshot builds a fresh store from a snapshot stream.
func ReadSnapshot(r io.Reader) (*Store, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	var h header
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("reading snapshot header: %w", err)
	}
	if h.Version > snapshotVersion {
		return nil, fmt.Errorf("snapshot version %d, this release reads up to %d: %w", h.Version, snapshotVersion, ErrNewerRelease)
	}
	if h.Version != snapshotVersion && h.Version != snapshotVersionV1 {
		return nil, fmt.Errorf("snapshot version %d, want %d", h.Version, snapshotVersion)
	}
	if err := checkFeatures(h.Features); err != nil {
		return nil, err
	}
	s := New()
	s.index, s.stats, s.features = h.Index, h.Stats, h.Features
	if h.Nodes != nil {
		s.nodes = h.Nodes
	}
	var cur *jobEntry
	for {
		var rec record
		err := dec.Decode(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading snapshot record: %w", err)
		}
		if cur, err = s.restoreRecord(cur, rec); err != nil {
			return nil, err
		}
	}
	if len(s.order) != h.Jobs {
		return nil, fmt.Errorf("snapshot has %d jobs, header says %d", len(s.order), h.Jobs)
	}
	if len(s.nodes) > protocol.MaxNodeControls {
		return nil, fmt.Errorf("snapshot: %d node controls, at most %d", len(s.nodes), protocol.MaxNodeControls)
	}
	for _, e := range s.jobs {
		if err := e.checkRestored(); err != nil {
			return nil, err
		}
		e.recount()
		if err := e.checkCounts(); err != nil {
			return nil, err
		}
	}
	s.rebuildUnmanifested()
	s.rebuildIndexes()
	return s, nil
}

func (s *Store) restoreRecord(cur *jobEntry, rec record) (*jobEntry, error) {
	switch {
	case rec.Type == "job" && rec.Job != nil:
		jr := rec.Job
		if err := s.checkJobRecord(jr); err != nil {
			return cur, err
		}
		e := &jobEntry{gen: s.gen, job: jr.Job, cursor: jr.Cursor, requeue: jr.Requeue, fails: jr.Fails,
			tasks: make(map[int]protocol.Task, min(max(jr.Tasks, 0), maxTaskHint)), leased: map[int]struct{}{}} // a hint, never trusted as a size
		if e.fails == nil {
			e.fails = map[string]int{}
		}
		s.jobs[e.job.ID] = e
		s.order = append(s.order, e.job.ID)
		return e, nil
	case rec.Type == "task" && rec.Task != nil && cur != nil && rec.Task.Job == cur.job.ID:
		t := *rec.Task
		if t.Result != nil { // a version 1 snapshot holds the object keys
			res := t.Result.Compact()
			t.Result = &res
		}
		cur.tasks[t.Shard] = t
		return cur, nil
	case rec.Type == "done" && rec.Done != nil && cur != nil:
		if rec.Done.Shard < 0 || rec.Done.Shard >= cur.job.Shards {
			return cur, fmt.Errorf("snapshot: done record of shard %d outside job %s (%d shards)", rec.Done.Shard, cur.job.ID, cur.job.Shards)
		}
		cur.tasks[rec.Done.Shard] = rec.Done.task(cur)
		return cur, nil
	}
	return cur, fmt.Errorf("unexpected snapshot record %q", rec.Type)
}

// recount rebuilds the derived counts and lease index from the tasks.
func (e *jobEntry) recount() {
	e.counts = TaskCounts{}
	for _, i := range slices.Sorted(maps.Keys(e.tasks)) {
		t := e.tasks[i]
		switch t.State {
		case protocol.TaskLeased:
			if e.job.State.Terminal() {
				// Written before finish requeued a finished job's leases
				// (the leased-count fix): requeue it now, as finish would.
				t.State, t.Progress, t.Assignee, t.Peers = protocol.TaskQueued, 0, "", nil
				e.tasks[i] = t
				e.requeueShard(i)
				continue
			}
			e.counts.Leased++
			e.leased[i] = struct{}{}
		case protocol.TaskDone:
			e.counts.Done++
		case protocol.TaskFailed:
			e.counts.Failed++
		}
	}
	e.counts.Queued = e.job.Shards - e.counts.Leased - e.counts.Done - e.counts.Failed
}

// Replace swaps in the contents of a restored store.
func (s *Store) Replace(n *Store) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	for _, e := range n.jobs {
		e.gen = s.gen
	}
	s.index, s.stats, s.jobs, s.order, s.nodes = n.index, n.stats, n.jobs, n.order, n.nodes
	s.features = n.features
	s.rebuildUnmanifested()
	s.rebuildIndexes()
	// Their sequences were renumbered away (pages.go).
	s.graves = graveyard{}
	select { // the restored state may hold done jobs without a manifest
	case s.doneCh <- struct{}{}:
	default:
	}
}
