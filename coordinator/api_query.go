package coordinator

import (
	"fmt"
	"net/url"
	"strconv"
	"unicode/utf8"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// parseTaskQuery reads the task listing of GET /v1/jobs/{id}: with
// tasks=1 (or true), up to limit tasks from shard `from` on. Both are
// client-given counts, so both are bounded here, before anything is sized
// from them: 0 <= limit <= api.MaxTaskPage (default api.MaxTaskPage), and
// 0 <= from <= protocol.MaxShards (a shard past the job's end lists
// nothing). Without tasks=1 no tasks are listed (limit 0).
func parseTaskQuery(q url.Values) (from, limit int, err *protocol.Error) {
	var fields []protocol.FieldError
	if t := q.Get("tasks"); t != "1" && t != "true" {
		return 0, 0, nil
	}
	limit = queryInt(q, "limit", api.MaxTaskPage, api.MaxTaskPage, &fields)
	from = queryInt(q, "from", 0, protocol.MaxShards, &fields)
	if len(fields) > 0 {
		return 0, 0, &protocol.Error{Code: protocol.CodeBadRequest, Message: "bad task query", Fields: fields}
	}
	return from, limit, nil
}

// parseJobQuery reads a job listing's page (GET /v1/jobs): limit in
// 1..api.MaxJobPage (default api.DefaultJobPage; 0 is the default too),
// after a job id's shape when given. Out of range is a 400 naming the
// field, never a silent clamp.
func parseJobQuery(q url.Values) (after protocol.JobID, limit int, perr *protocol.Error) {
	var fields []protocol.FieldError
	limit = queryInt(q, "limit", api.DefaultJobPage, api.MaxJobPage, &fields)
	if limit == 0 {
		limit = api.DefaultJobPage
	}
	if a := q.Get("after"); a != "" {
		after = protocol.JobID(a)
		if err := protocol.CheckJobID(after); err != nil {
			fields = append(fields, protocol.FieldError{Field: "after", Value: shortValue(a), Problem: "not a job id"})
		}
	}
	if len(fields) > 0 {
		return "", 0, &protocol.Error{Code: protocol.CodeBadRequest, Message: "bad job query", Fields: fields}
	}
	return after, limit, nil
}

// queryInt parses the integer parameter name in 0..hi (def when absent),
// adding a field error naming it and its value otherwise.
func queryInt(q url.Values, name string, def, hi int, fields *[]protocol.FieldError) int {
	s := q.Get(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > hi {
		*fields = append(*fields, protocol.FieldError{Field: name, Value: shortValue(s),
			Problem: fmt.Sprintf("want an integer in 0..%d", hi)})
		return 0
	}
	return n
}

// shortValue is a query value as an error shows it: cut to 64 bytes (the
// value came from the client and may be as long as a URL allows).
func shortValue(s string) string { return protocol.Clip(s, 64) }

// checkReason bounds a cancel reason: it is committed to the Raft log and
// kept with the job.
func checkReason(reason string) *protocol.Error {
	if len(reason) <= api.MaxReason && utf8.ValidString(reason) {
		return nil
	}
	return &protocol.Error{Code: protocol.CodeBadRequest, Message: "invalid cancel reason",
		Fields: []protocol.FieldError{{Field: "reason", Value: fmt.Sprintf("%d bytes", len(reason)),
			Problem: fmt.Sprintf("want valid UTF-8 of at most %d bytes", api.MaxReason)}}}
}

// jobNotFound is the 404 of an unknown job id, naming it.
func jobNotFound(id string) *protocol.Error {
	return &protocol.Error{Code: protocol.CodeNotFound, Message: fmt.Sprintf("job %q not found", shortValue(id)),
		Fields: []protocol.FieldError{{Field: "id", Value: shortValue(id), Problem: "no such job"}}}
}

// bodyError is an error about the request body as a whole, named "(body)".
func bodyError(code protocol.Code, value, problem string) *protocol.Error {
	return &protocol.Error{Code: code, Message: problem,
		Fields: []protocol.FieldError{{Field: "(body)", Value: value, Problem: problem}}}
}

// errTooLarge is the 413 of a body over api.MaxBody.
func errTooLarge() *protocol.Error {
	return bodyError(protocol.CodeTooLarge, fmt.Sprintf("over %d bytes", api.MaxBody),
		fmt.Sprintf("request body over %d bytes", api.MaxBody))
}
