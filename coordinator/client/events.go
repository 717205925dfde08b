package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/internal/backoff"
	"github.com/sanafarm/sanafarm/protocol"
)

// eventsBackoff spaces reconnections of an event stream.
var eventsBackoff = backoff.Policy{Base: 250 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.2}

// eventsIdle is how long a stream may stay silent (the server sends a
// heartbeat every api.EventHeartbeat) before it counts as dropped.
const eventsIdle = 3 * api.EventHeartbeat

// Events streams the coordinator's events matching f (GET /v1/events),
// starting after event id since (nil: from now on). A dropped connection
// is reopened with Last-Event-ID (internal/backoff between tries), so no
// event is missed while the coordinator's ring still holds it; otherwise
// the coordinator sends a reset event (reload the state). Errors are
// yielded as they happen: after a transient one (unreachable, 503) the
// stream goes on retrying until the caller stops iterating or ctx ends;
// after a permanent one (auth, bad request) it ends.
func (c *Client) Events(ctx context.Context, f api.EventFilter, since *uint64) iter.Seq2[api.Event, error] {
	return func(yield func(api.Event, error) bool) {
		if err := checkFilter(f); err != nil {
			yield(api.Event{}, err)
			return
		}
		last := since
		b := eventsBackoff.New()
		for ctx.Err() == nil {
			got, err := c.streamEvents(ctx, f, last, func(e api.Event) bool {
				id := e.ID
				last = &id
				return yield(e, nil)
			})
			switch {
			case err == errStop || ctx.Err() != nil:
				return
			case got:
				b = eventsBackoff.New() // it worked for a while: retry at once
			}
			if err != nil {
				if !yield(api.Event{}, err) || permanent(err) {
					return
				}
			}
			if !b.Wait(ctx) {
				return
			}
		}
	}
}

// checkFilter refuses a filter with more than api.MaxEventFilterValues
// values in a list with the coordinator's own bad_request (naming the list
// and its count): a request that can only be refused is not sent.
func checkFilter(f api.EventFilter) error {
	for _, l := range []struct {
		field string
		n     int
	}{{"job", len(f.Jobs)}, {"node", len(f.Nodes)}} {
		if l.n > api.MaxEventFilterValues {
			v, problem := strconv.Itoa(l.n), fmt.Sprintf("%d values, at most %d per stream", l.n, api.MaxEventFilterValues)
			return &protocol.Error{Code: protocol.CodeBadRequest, Message: fmt.Sprintf("%s %q: %s", l.field, v, problem),
				Fields: []protocol.FieldError{{Field: l.field, Value: v, Problem: problem}}}
		}
	}
	return nil
}

// errStop: the caller stopped iterating.
var errStop = fmt.Errorf("stopped")

// permanent reports whether retrying cannot help.
func permanent(err error) bool {
	switch protocol.CodeOf(err) {
	case protocol.CodeUnauthorized, protocol.CodeBadRequest, protocol.CodeNotFound:
		return true
	}
	return false
}

// streamEvents runs one connection, calling each for every event; got
// says whether it delivered any.
func (c *Client) streamEvents(ctx context.Context, f api.EventFilter, since *uint64, each func(api.Event) bool) (got bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	q := url.Values{}
	for _, j := range f.Jobs {
		q.Add("job", string(j))
	}
	for _, n := range f.Nodes {
		q.Add("node", n)
	}
	path := api.PathEvents
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return false, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if since != nil {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(*since, 10))
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	hc := *c.HTTP
	hc.Timeout = 0 // a stream has no end; idleness is watched below instead
	resp, err := hc.Do(req)
	if err != nil {
		return false, unreachable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return false, decodeError(resp)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		// A coordinator before the event stream (or something else at
		// that address): retrying cannot help.
		return false, &protocol.Error{Code: protocol.CodeNotFound, Message: fmt.Sprintf("GET %s answered %q, not an event stream", path, ct)}
	}
	idle := time.AfterFunc(eventsIdle, cancel)
	defer idle.Stop()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), maxEventBytes)
	var ev eventData
	for sc.Scan() {
		idle.Reset(eventsIdle)
		data, ok, err := ev.line(sc.Text())
		if err != nil {
			return got, err
		}
		if !ok {
			continue
		}
		var e api.Event
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return got, fmt.Errorf("decoding event %.200q: %w", data, err)
		}
		got = true
		if !each(e) {
			return got, errStop
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return got, &protocol.Error{Code: protocol.CodeUnavailable, Message: fmt.Sprintf("reading %s: %v", path, err)}
	}
	return got, &protocol.Error{Code: protocol.CodeUnavailable, Message: "event stream ended"}
}

// maxEventBytes bounds one line of the stream and one event's data, however
// many lines it spans: a stream that never ends an event must not grow the
// reader's memory without bound.
const maxEventBytes = 4 << 20

// eventData gathers one event's data lines as Server-Sent Events define
// them (docs/architecture.md, "Event stream"): each "data" field's value,
// one leading space dropped, joined with LF; a blank line ends the event.
// Comments (": ping") and the other fields are skipped: the id and type
// travel in the data's JSON.
type eventData struct{ buf strings.Builder }

// line takes one line of the stream and returns the data of the event it
// ends, if it ends one that has data.
func (d *eventData) line(line string) (string, bool, error) {
	if line == "" {
		data := strings.TrimSuffix(d.buf.String(), "\n")
		d.buf.Reset()
		return data, data != "", nil
	}
	name, value, _ := strings.Cut(line, ":")
	if name != "data" {
		return "", false, nil
	}
	value = strings.TrimPrefix(value, " ")
	if d.buf.Len()+len(value)+1 > maxEventBytes {
		return "", false, fmt.Errorf("event data over %d bytes", maxEventBytes)
	}
	d.buf.WriteString(value)
	d.buf.WriteByte('\n')
	return "", false, nil
}
