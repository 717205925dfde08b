package protocol

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds of node messages (NATS SubjectLease, SubjectProgress,
// SubjectComplete): what a well-behaved node sends, with room to spare.
// Anything any NATS client publishes is decoded, so nothing in a message
// may size an allocation or a loop beyond these.
const (
	MaxLeaseFree     = 256       // tasks one lease request may ask for
	MaxNodeIDBytes   = 256       // node ids and other names
	MaxNodeGPUs      = 64        // GPUs a node may list
	MaxNodeModels    = 256       // resident models a node may list
	MaxNodeFeatures  = 32        // features a node may list
	MaxReportError   = 64 << 10  // bytes of a failure reason
	MaxShardObjects  = 1 << 20   // objects one shard may report
	MaxShardProgress = 1<<31 - 1 // images done in one attempt
)

// DecodeLeaseRequest decodes and checks a lease request.
func DecodeLeaseRequest(data []byte) (LeaseRequest, error) {
	var r LeaseRequest
	if err := json.Unmarshal(data, &r); err != nil {
		return r, Errorf(CodeBadRequest, "decoding lease request: %v", err)
	}
	return r, r.Check()
}

// DecodeProgressReport decodes and checks a progress report.
func DecodeProgressReport(data []byte) (ProgressReport, error) {
	var r ProgressReport
	if err := json.Unmarshal(data, &r); err != nil {
		return r, Errorf(CodeBadRequest, "decoding progress report: %v", err)
	}
	return r, r.Check()
}

// DecodeCompleteReport decodes and checks a completion report.
func DecodeCompleteReport(data []byte) (CompleteReport, error) {
	var r CompleteReport
	if err := json.Unmarshal(data, &r); err != nil {
		return r, Errorf(CodeBadRequest, "decoding completion report: %v", err)
	}
	return r, r.Check()
}

// fieldErrors collects problems of one message.
type fieldErrors struct {
	what string
	fs   []FieldError
}

func (e *fieldErrors) add(field string, value any, problem string) {
	v := fmt.Sprint(value)
	if len(v) > 80 {
		v = v[:80] + "…"
	}
	e.fs = append(e.fs, FieldError{Field: field, Value: v, Problem: problem})
}

func (e *fieldErrors) name(field, v string) {
	switch {
	case v == "":
		e.add(field, "", "required")
	case len(v) > MaxNodeIDBytes || !utf8.ValidString(v) || strings.ContainsAny(v, "/ \t\r\n"):
		e.add(field, strconv.Quote(v), fmt.Sprintf("want at most %d bytes of UTF-8 without '/' or spaces", MaxNodeIDBytes))
	}
}

func (e *fieldErrors) err() error {
	if len(e.fs) == 0 {
		return nil
	}
	parts := make([]string, len(e.fs))
	for i, f := range e.fs {
		parts[i] = f.String()
	}
	return &Error{Code: CodeBadRequest, Message: "invalid " + e.what + ": " + strings.Join(parts, "; "), Fields: e.fs}
}

// Check returns a bad_request *Error naming every invalid field.
func (r LeaseRequest) Check() error {
	e := &fieldErrors{what: "lease request"}
	e.name("node.id", r.Node.ID)
	if r.Free < 0 || r.Free > MaxLeaseFree {
		e.add("free", r.Free, fmt.Sprintf("want 0..%d", MaxLeaseFree))
	}
	if r.Node.Slots < 0 || r.Node.Slots > MaxLeaseFree {
		e.add("node.slots", r.Node.Slots, fmt.Sprintf("want 0..%d", MaxLeaseFree))
	}
	if len(r.Node.GPUs) > MaxNodeGPUs {
		e.add("node.gpus", len(r.Node.GPUs), fmt.Sprintf("at most %d GPUs", MaxNodeGPUs))
	}
	if len(r.Node.Models) > MaxNodeModels {
		e.add("node.models", len(r.Node.Models), fmt.Sprintf("at most %d models", MaxNodeModels))
	}
	if len(r.Node.Features) > MaxNodeFeatures {
		e.add("node.features", len(r.Node.Features), fmt.Sprintf("at most %d features", MaxNodeFeatures))
	}
	if len(r.Holds) > MaxLeaseFree {
		e.add("holds", len(r.Holds), fmt.Sprintf("at most %d task attempts", MaxLeaseFree))
	} else {
		for i, h := range r.Holds {
			if h.Shard < 0 || h.Attempt < 1 || CheckJobID(h.Job) != nil {
				e.add(fmt.Sprintf("holds[%d]", i), strconv.Quote(h.String())+" attempt "+strconv.Itoa(h.Attempt),
					"want a job id, a shard >= 0 and an attempt >= 1")
				break // one is enough to refuse the request
			}
		}
	}
	return e.err()
}

// checkAttempt checks what progress and completion reports share.
func (e *fieldErrors) checkAttempt(k TaskKey, node string, attempt int) {
	if err := CheckJobID(k.Job); err != nil {
		e.add("job", strconv.Quote(string(k.Job)), "not a job id")
	}
	if k.Shard < 0 {
		e.add("shard", k.Shard, "must not be negative")
	}
	e.name("node", node)
	if attempt < 1 {
		e.add("attempt", attempt, "want at least 1")
	}
}

// Check returns a bad_request *Error naming every invalid field.
func (r ProgressReport) Check() error {
	e := &fieldErrors{what: "progress report"}
	e.checkAttempt(r.TaskKey, r.Node, r.Attempt)
	if r.Done < 0 || r.Done > MaxShardProgress {
		e.add("done", r.Done, fmt.Sprintf("want 0..%d", MaxShardProgress))
	}
	return e.err()
}

// Check returns a bad_request *Error naming every invalid field.
func (r CompleteReport) Check() error {
	e := &fieldErrors{what: "completion report"}
	e.checkAttempt(r.TaskKey, r.Node, r.Attempt)
	switch {
	case r.Result != nil && r.Error != "":
		e.add("error", "", "a report has a result or an error, not both")
	case len(r.Error) > MaxReportError:
		e.add("error", len(r.Error), fmt.Sprintf("at most %d bytes", MaxReportError))
	}
	if s := r.Result; s != nil {
		if s.Images < 0 || s.Failed < 0 || s.Bytes < 0 || s.Seconds < 0 || s.Seconds != s.Seconds {
			e.add("result", fmt.Sprintf("images=%d failed=%d bytes=%d seconds=%g", s.Images, s.Failed, s.Bytes, s.Seconds), "counts must not be negative")
		}
		if len(s.Objects) > MaxShardObjects {
			e.add("result.objects", len(s.Objects), fmt.Sprintf("at most %d objects", MaxShardObjects))
		}
	}
	return e.err()
}

// ClipReason cuts a failure reason to MaxReportError bytes (on a UTF-8
// boundary), so a long error still makes a valid CompleteReport.
func ClipReason(s string) string { return Clip(s, MaxReportError-len("…")) }
