package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/coordinator/api"
)

// sseClient returns a client whose every request is answered 200
// text/event-stream with body, without a network.
func sseClient(body []byte) *Client {
	c := New("http://coordinator.test", "tok")
	c.HTTP.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"text/event-stream"}},
			Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
	})
	return c
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// readStream runs one connection over body and returns what it delivered.
func readStream(t *testing.T, body []byte) ([]api.Event, error) {
	t.Helper()
	var got []api.Event
	_, err := sseClient(body).streamEvents(context.Background(), api.EventFilter{}, nil, func(e api.Event) bool {
		got = append(got, e)
		return true
	})
	return got, err
}

// specEvents parses body as the SSE specification (WHATWG HTML, "Server-sent
// events", interpreting an event stream) does for the data field, over
// the lines bufio.ScanLines splits (LF or CRLF; a lone CR ends no line
// here): data lines join with LF, a blank line dispatches a non-empty
// buffer, other fields and comments are ignored. It returns the events up
// to the first whose data is not an api.Event, and whether it stopped
// there.
func specEvents(body []byte) ([]api.Event, bool) {
	var evs []api.Event
	var buf strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, len(body)+1)
	for sc.Scan() {
		line := sc.Text()
		name, value, _ := strings.Cut(line, ":")
		switch {
		case line == "":
			if buf.Len() == 0 {
				continue
			}
			data := strings.TrimSuffix(buf.String(), "\n")
			buf.Reset()
			if data == "" {
				continue
			}
			var e api.Event
			if json.Unmarshal([]byte(data), &e) != nil {
				return evs, true
			}
			evs = append(evs, e)
		case name == "data":
			buf.WriteString(strings.TrimPrefix(value, " ") + "\n")
		}
	}
	return evs, false
}

// FuzzEvents: the CLI's event stream reader never panics on what a
// coordinator (or anything at its address) sends; it delivers the events
// the SSE specification reads from the stream, in order, and stops with an
// error at the first one that is not an event; and a well-formed stream of
// an event written the way a server may (comments, id and event fields,
// data split over lines) yields that event with its id and type, once per
// copy sent.
func FuzzEvents(f *testing.F) {
	f.Add([]byte(": stream\n\nid: 8192\ndata: {\"id\":8192,\"type\":\"job\",\"job\":\"j1\",\"state\":\"running\"}\n\n"+
		": ping\n\nid: 8193\ndata: {\"id\":8193,\"type\":\"shard\",\"job\":\"j1\",\"shard\":0,\"attempt\":1,\"node\":\"w0\"}\n\n"),
		uint64(8194), "progress", uint16(3))
	f.Add([]byte("id: 1\r\nevent: job\r\ndata: {\"id\":1,\r\ndata:\"type\":\"reset\"}\r\n\r\n"), uint64(1<<63), "reset", uint16(0))
	f.Add([]byte("data: {\"id\":1\ndata: 2}\n\n"), uint64(0), "", uint16(1))
	f.Add([]byte("data: {\"id\":1}\n\ndata: {\"id\":\n\ndata: {\"id\":3}\n\n"), uint64(2), "job", uint16(2))
	f.Add([]byte("data\ndata\n\ndata: {\"id\":4}\ndata\n\n"), uint64(4), "\u2028\"\\\n", uint16(9))
	f.Add([]byte("data: {\"id\":5,\"type\":\"job\"}"), uint64(5), "\xff", uint16(65535)) // no blank line: never dispatched
	f.Add([]byte("\n\n\n:\n\ndata:   {}\n\n"), uint64(6), "node", uint16(7))
	f.Fuzz(func(t *testing.T, stream []byte, id uint64, typ string, copies uint16) {
		got, err := readStream(t, stream)
		want, broken := specEvents(stream)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("read %+v, the specification reads %+v", got, want)
		}
		if broken == isStreamEnd(err) {
			t.Fatalf("after %d events: %v (an undecodable event: %v)", len(got), err, broken)
		}
		checkWellFormed(t, id, typ, int(copies%4)+1)
	})
}

// isStreamEnd reports whether err is the end of a stream read to its end.
func isStreamEnd(err error) bool {
	return err != nil && strings.Contains(err.Error(), "event stream ended")
}

// checkWellFormed sends n copies of one event, its JSON indented so that
// its data spans lines, and wants them back as sent.
func checkWellFormed(t *testing.T, id uint64, typ string, n int) {
	t.Helper()
	b, err := json.MarshalIndent(api.Event{ID: id, Type: typ}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	var want api.Event
	if err := json.Unmarshal(b, &want); err != nil { // typ as JSON carries it (invalid UTF-8 replaced)
		t.Fatal(err)
	}
	var s strings.Builder
	s.WriteString(": stream\r\n\r\n")
	for range n {
		s.WriteString("id: " + strconv.FormatUint(id, 10) + "\nevent: " + strconv.Quote(typ) + "\n")
		for _, line := range strings.Split(string(b), "\n") {
			s.WriteString("data: " + line + "\n")
		}
		s.WriteString(":ping\n\n")
	}
	got, err := readStream(t, []byte(s.String()))
	if !isStreamEnd(err) || len(got) != n {
		t.Fatalf("%d of %d events, then %v", len(got), n, err)
	}
	for _, e := range got {
		if e.ID != want.ID || e.Type != want.Type || !reflect.DeepEqual(e, want) {
			t.Fatalf("read %+v, sent %+v", e, want)
		}
	}
}

// TestEventsDataBounded: an event's data is bounded as its lines are
// (maxEventBytes), however many lines it spans, so a stream that never
// ends an event cannot grow the reader's memory without bound.
func TestEventsDataBounded(t *testing.T) {
	line := "data: " + strings.Repeat(" ", 1<<20) + "\n"
	got, err := readStream(t, []byte("data: {\"id\":1}\n\n"+strings.Repeat(line, maxEventBytes>>20+1)+"\n"))
	if len(got) != 1 || err == nil || isStreamEnd(err) || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("read %d events, then %v; want the first, then an error about the size", len(got), err)
	}
	if len(err.Error()) > 1<<10 {
		t.Errorf("error of %d bytes: want the data left out", len(err.Error()))
	}
}
