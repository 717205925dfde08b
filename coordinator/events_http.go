package coordinator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// GET /v1/events (docs/architecture.md, "Event stream"; api.PathEvents).
// Served from this coordinator's own hub on leaders and followers alike.

func (a *apiServer) events(w http.ResponseWriter, r *http.Request) {
	h := a.cfg.events
	if h == nil {
		writeError(w, protocol.Errorf(protocol.CodeUnavailable, "this coordinator serves no event stream"))
		return
	}
	f, since, perr := parseEventQuery(r)
	if perr != nil {
		writeError(w, perr)
		return
	}
	sub, back, err := h.subscribe(f, since)
	if errors.Is(err, errTooManyStreams) {
		w.Header().Set("Retry-After", "5")
		writeError(w, protocol.Errorf(protocol.CodeUnavailable, "%d event streams are open, the most this coordinator serves", h.lim.Streams))
		return
	}
	defer h.unsubscribe(sub)
	rc := http.NewResponseController(w)
	// The server's ReadTimeout would cancel the request's context mid-
	// stream (see newHTTPServer); each write gets its own deadline instead
	// of the server-wide WriteTimeout.
	_ = rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	s := &sseWriter{w: w, rc: rc, timeout: h.lim.Write}
	if s.comment("stream") != nil || s.send(back...) != nil {
		return
	}
	beat := time.NewTicker(h.lim.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-sub.gone:
			if a.cfg.log != nil {
				a.cfg.log.Info("event stream dropped: client too slow", "remote", r.RemoteAddr)
			}
			return
		case <-beat.C:
			err = s.comment("ping")
		case e := <-sub.ch:
			err = s.send(e)
		}
		if err != nil {
			return
		}
	}
}

// parseEventQuery reads the filter and the resume point (Last-Event-ID,
// else ?since=). Each filter list is bounded by api.MaxEventFilterValues,
// counted before any value is checked.
func parseEventQuery(r *http.Request) (api.EventFilter, *uint64, *protocol.Error) {
	q := r.URL.Query()
	var f api.EventFilter
	for _, field := range []string{"job", "node"} {
		if n := len(q[field]); n > api.MaxEventFilterValues {
			return f, nil, queryError(field, strconv.Itoa(n), fmt.Sprintf("%d values, at most %d per stream", n, api.MaxEventFilterValues))
		}
	}
	for _, id := range q["job"] {
		if err := protocol.CheckJobID(protocol.JobID(id)); err != nil {
			return f, nil, queryError("job", id, "not a job id")
		}
		f.Jobs = append(f.Jobs, protocol.JobID(id))
	}
	for _, n := range q["node"] {
		if n == "" || len(n) > 256 {
			return f, nil, queryError("node", n, "not a node id (1 to 256 bytes)")
		}
		f.Nodes = append(f.Nodes, n)
	}
	field, v := "Last-Event-ID", r.Header.Get("Last-Event-ID")
	if v == "" {
		field, v = "since", q.Get("since")
	}
	if v == "" {
		return f, nil, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return f, nil, queryError(field, v, "not an event id (a decimal number)")
	}
	return f, &n, nil
}

// queryError is a 400 naming a query parameter (or header) and its value.
func queryError(field, value, problem string) *protocol.Error {
	return &protocol.Error{Code: protocol.CodeBadRequest, Message: fmt.Sprintf("%s %q: %s", field, shortValue(value), problem),
		Fields: []protocol.FieldError{{Field: field, Value: shortValue(value), Problem: problem}}}
}

// sseWriter writes SSE messages, each under its own write deadline, and
// flushes them.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     bytes.Buffer
}

func (s *sseWriter) send(evs ...api.Event) error {
	s.buf.Reset()
	for _, e := range evs {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encoding event %d: %w", e.ID, err)
		}
		fmt.Fprintf(&s.buf, "id: %d\ndata: %s\n\n", e.ID, b)
		if s.buf.Len() >= 32<<10 {
			if err := s.flush(); err != nil {
				return err
			}
		}
	}
	return s.flush()
}

func (s *sseWriter) comment(text string) error {
	s.buf.Reset()
	s.buf.WriteString(": " + text + "\n\n")
	return s.flush()
}

// flush writes the buffer within the write timeout. A writer without
// deadlines (a test's recorder) is written to as is.
func (s *sseWriter) flush() error {
	if s.buf.Len() == 0 {
		return nil
	}
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("setting the write deadline: %w", err)
	}
	if _, err := s.w.Write(s.buf.Bytes()); err != nil {
		return fmt.Errorf("writing events: %w", err)
	}
	s.buf.Reset()
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("flushing events: %w", err)
	}
	return nil
}
