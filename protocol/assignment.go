package protocol

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Check returns a bad_request *Error naming every invalid field of a
// leased assignment, as a node sees it before running it. A node sizes
// buffers by the task's sample range (one prompt row per sample) and a
// gang's transport by Ranks, so an assignment from a faulty or hostile
// leader must be bounded like any other message from outside
// (docs/architecture.md, "Security model"): the spec passes JobSpec.Validate, the task is one
// shard of at most MaxShardSize samples inside the job, and a gang's
// ranks and peers fit its parallel plan.
func (a Assignment) Check() error {
	e := &fieldErrors{what: "assignment"}
	a.checkSpec(e)
	a.checkTask(e)
	a.checkGang(e)
	return e.err()
}

// CheckGrant checks what a leader derives from its state alone — the spec
// and the task — leaving out the gang fields it builds per node: the check
// a leader runs on its own grant that a node refused.
func (a Assignment) CheckGrant() error {
	e := &fieldErrors{what: "assignment"}
	a.checkSpec(e)
	a.checkTask(e)
	return e.err()
}

// checkSpec validates the spec as a job spec. An assignment's spec
// carries only its task's inline prompts (InlineStart, the first one's
// row) and prompt index entry (Index.First): JobSpec.ForSamples trims them
// so that a lease reply stays small. Those two are checked here, the rest
// by Validate on the spec without them.
func (a Assignment) checkSpec(e *fieldErrors) {
	s := a.Spec
	s.Prompts.InlineStart, s.Prompts.Index = 0, nil
	var v ValidationError
	if errors.As(s.Validate(), &v) {
		for _, f := range v {
			e.fs = append(e.fs, FieldError{Field: "spec." + f.Field, Value: f.Value, Problem: f.Problem})
		}
	}
	p := a.Spec.Prompts
	if p.InlineStart < 0 || p.InlineStart > MaxRows-int64(len(p.Inline)) || p.InlineStart != 0 && len(p.Inline) == 0 {
		e.add("spec.prompts.inline_start", p.InlineStart, fmt.Sprintf("want the row of the first inline prompt, 0..%d", int64(MaxRows)))
	}
	if x := p.Index; x != nil {
		switch {
		case p.URL == "" || strings.EqualFold(p.FormatOrExt(), "parquet"):
			e.add("spec.prompts.index", "", "an index needs a txt, jsonl or csv prompt file url")
		default:
			if errors.As(x.Check(p.Rows), &v) {
				for _, f := range v {
					e.fs = append(e.fs, FieldError{Field: "spec." + f.Field, Value: f.Value, Problem: f.Problem})
				}
			}
		}
	}
}

// checkTask bounds the task: a job id, a shard and attempt number, and a
// sample range [Start, End) of at most MaxShardSize samples inside the
// job's (the rows the spec carries).
func (a Assignment) checkTask(e *fieldErrors) {
	t := a.Task
	if err := CheckJobID(t.Job); err != nil {
		e.add("task.job", strconv.Quote(string(t.Job)), "not a job id")
	}
	if t.Shard < 0 || t.Shard >= MaxShards {
		e.add("task.shard", t.Shard, fmt.Sprintf("want 0..%d", MaxShards-1))
	}
	if t.Attempt < 1 {
		e.add("task.attempt", t.Attempt, "want at least 1")
	}
	switch {
	case t.Start < 0 || t.End <= t.Start:
		e.add("task.start", fmt.Sprintf("[%d, %d)", t.Start, t.End), "want samples 0 <= start < end")
		return
	case t.End-t.Start > MaxShardSize:
		e.add("task.end", fmt.Sprintf("[%d, %d)", t.Start, t.End), fmt.Sprintf("%d samples, want at most %d in a shard", t.End-t.Start, MaxShardSize))
		return
	}
	p := a.Spec.Prompts
	rows := p.Count()
	if rows <= 0 || rows > MaxRows || a.Spec.ImagesPerPrompt < 0 || a.Spec.ImagesPerPrompt > MaxImagesPerPrompt {
		return // the spec's check names the count
	}
	ipp := int64(max(a.Spec.ImagesPerPrompt, 1))
	if n := rows * ipp; t.End > n { // rows <= 2^36, ipp <= 1000: no overflow
		e.add("task.end", t.End, fmt.Sprintf("past the job's %d samples", n))
	}
	if len(p.Inline) > 0 && t.Start/ipp < p.InlineStart {
		e.add("task.start", t.Start, fmt.Sprintf("before the first inline prompt's samples (row %d)", p.InlineStart))
	}
}

// checkGang bounds a gang assignment (Ranks > 1): its ranks are the
// degree of the spec's parallel plan (2..MaxParallelDegree), its rank one
// of them, its group a subject token, and its peers, when listed, one
// node id per rank. A one-node assignment is rank 0 with no peers: a
// rank above 0 never reports its shard (only rank 0 does).
func (a Assignment) checkGang(e *fieldErrors) {
	if a.Ranks <= 1 {
		if a.Ranks < 0 {
			e.add("ranks", a.Ranks, fmt.Sprintf("want 0 or 1 (one node), or %d..%d", MinParallelDegree, MaxParallelDegree))
		}
		if a.Rank != 0 {
			e.add("rank", a.Rank, "want 0 without a gang")
		}
		if len(a.Peers) > 0 {
			e.add("peers", len(a.Peers), "want none without a gang")
		}
		return
	}
	switch {
	case a.Ranks > MaxParallelDegree:
		e.add("ranks", a.Ranks, fmt.Sprintf("want %d..%d", MinParallelDegree, MaxParallelDegree))
		return
	case a.Ranks != a.Spec.Ranks():
		e.add("ranks", a.Ranks, fmt.Sprintf("want the degree of spec.parallel %q", Clip(a.Spec.Parallel, maxParallelPlan)))
	}
	if a.Rank < 0 || a.Rank >= a.Ranks {
		e.add("rank", a.Rank, fmt.Sprintf("want 0..%d", a.Ranks-1))
	}
	if a.Group == "" || len(a.Group) > MaxNodeIDBytes || !utf8.ValidString(a.Group) ||
		strings.ContainsFunc(a.Group, func(r rune) bool { return isControl(r) || strings.ContainsRune("./*> ", r) }) {
		e.add("group", strconv.Quote(a.Group), fmt.Sprintf("want a NATS subject token of 1..%d bytes", MaxNodeIDBytes))
	}
	switch {
	case len(a.Peers) == 0:
	case len(a.Peers) != a.Ranks:
		e.add("peers", len(a.Peers), fmt.Sprintf("want none or one node id per rank (%d)", a.Ranks))
	default:
		for i, p := range a.Peers {
			e.name(fmt.Sprintf("peers[%d]", i), p)
		}
	}
}
