package protocol

import "testing"

// TestErrorNamesFields: an error's text carries its field errors once,
// whether or not the message already spells them out.
func TestErrorNamesFields(t *testing.T) {
	state := FieldError{Field: "state", Value: "bogus", Problem: "want queued, running, done, failed or cancelled"}
	for _, c := range []struct {
		name string
		err  *Error
		want string
	}{
		{"no fields", Errorf(CodeNotFound, "job j-1 not found"), "not_found: job j-1 not found"},
		{"field added", &Error{Code: CodeBadRequest, Message: "unknown job state", Fields: []FieldError{state}},
			"bad_request: unknown job state (state = bogus: want queued, running, done, failed or cancelled)"},
		{"field without value", &Error{Code: CodeBadRequest, Message: "priority is required",
			Fields: []FieldError{{Field: "priority", Problem: "required"}}}, "bad_request: priority is required (priority: required)"},
		{"already in the message", ValidationError{{Field: "steps", Value: "-2", Problem: "want 1..1000"}}.AsError(),
			"bad_request: invalid job spec: steps = -2: want 1..1000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.err.Error(); got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}
