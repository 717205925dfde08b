package protocol

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Code is a stable, machine-readable error code (HTTP bodies, NATS replies).
type Code string

// Error codes.
const (
	CodeBadRequest   Code = "bad_request"
	CodeUnauthorized Code = "unauthorized"
	CodeForbidden    Code = "forbidden" // a request the API refuses whatever the token (a browser's cross-site write)
	CodeNotFound     Code = "not_found"
	CodeConflict     Code = "conflict"
	CodeTooLarge     Code = "too_large"
	// CodeInsufficientStorage: the coordinator's data disk is nearly full
	// (HTTP 507); not retried.
	CodeInsufficientStorage Code = "insufficient_storage"
	// CodeTooManyRequests: the client is throttled (too many wrong
	// tokens); Retry-After says when it may try again. Not retried.
	CodeTooManyRequests Code = "too_many_requests"
	CodeNotLeader       Code = "not_leader"
	CodeStaleAttempt    Code = "stale_attempt"
	CodeUnavailable     Code = "unavailable"
	CodeInternal        Code = "internal"
)

// Error is the wire form of an error: `{"code": ..., "message": ...}`,
// with field errors for validation failures.
type Error struct {
	Code    Code         `json:"code"`
	Message string       `json:"message"`
	Fields  []FieldError `json:"fields,omitempty"`
}

// Error is "code: message", followed by the field errors the message does
// not already spell out (a client printing it then names the field, the
// value and what is wanted).
func (e *Error) Error() string {
	var extra []string
	for _, f := range e.Fields {
		if s := f.String(); !strings.Contains(e.Message, s) {
			extra = append(extra, s)
		}
	}
	if len(extra) == 0 {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, strings.Join(extra, "; "))
}

// Errorf builds an Error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the Code of err (CodeInternal for errors of other kinds).
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// FieldError names an invalid field, its value and the problem.
type FieldError struct {
	Field   string `json:"field"`
	Value   string `json:"value,omitempty"`
	Problem string `json:"problem"`
}

func (f FieldError) String() string {
	if f.Value == "" {
		return fmt.Sprintf("%s: %s", f.Field, f.Problem)
	}
	return fmt.Sprintf("%s = %s: %s", f.Field, f.Value, f.Problem)
}

// ValidationError is a list of field errors.
type ValidationError []FieldError

func (v ValidationError) Error() string {
	parts := make([]string, len(v))
	for i, f := range v {
		parts[i] = f.String()
	}
	return "invalid job spec: " + strings.Join(parts, "; ")
}

// AsError converts a ValidationError to the wire Error.
func (v ValidationError) AsError() *Error {
	return &Error{Code: CodeBadRequest, Message: v.Error(), Fields: v}
}

// Clip cuts s to at most n bytes on a rune boundary, marking a cut with
// "…" (which adds 3 bytes): for values quoted in errors, logs and reasons,
// where the value came from outside and may be long.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
