package coordinator

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestHTTPServerLimits: a slowloris client (headers or body that never
// finish) is disconnected once the read timeouts pass, and oversized
// headers get 431; without the limits the connections stay open.
func TestHTTPServerLimits(t *testing.T) {
	limits := HTTPLimits{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 400 * time.Millisecond,
		WriteTimeout: time.Second, IdleTimeout: 300 * time.Millisecond, MaxHeaderBytes: 4 << 10}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "reading body", http.StatusBadRequest)
			return
		}
		io.WriteString(w, "ok")
	})
	hs := newHTTPServer(handler, limits, nil, testLogger())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	for _, tc := range []struct {
		name, send string
		wantStatus string // "" = closed without an answer
	}{
		{"partial headers", "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ", ""},
		{"partial body", "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"model\":", "400"},
		{"oversized headers", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n", "431"},
		{"idle keep-alive", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tc.send); err != nil {
				t.Fatal(err)
			}
			// The server must hang up well before this deadline.
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			start := time.Now()
			got, err := io.ReadAll(bufio.NewReader(c))
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("connection still open after %v (answer so far %q)", time.Since(start).Round(time.Millisecond), got)
			}
			status := ""
			if line, _, ok := strings.Cut(string(got), "\r\n"); ok && len(line) >= 12 {
				status = line[9:12]
			}
			if status != tc.wantStatus {
				t.Fatalf("status %q, want %q (answer %q)", status, tc.wantStatus, got)
			}
		})
	}
	if d := (HTTPLimits{}).withDefaults(); d != DefaultHTTPLimits {
		t.Fatalf("zero limits -> %+v, want the defaults", d)
	}
}
