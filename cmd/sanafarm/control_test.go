package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestControlCommands runs each job and node control command against a
// fake API: the request it sends, its output and its exit code.
func TestControlCommands(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.RequestURI())
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasPrefix(r.URL.Path, "/v1/jobs/j-gone"):
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(protocol.Errorf(protocol.CodeNotFound, "job j-gone not found"))
		case strings.HasPrefix(r.URL.Path, "/v1/nodes/"):
			_ = json.NewEncoder(w).Encode(api.NodeStatus{Info: protocol.NodeInfo{ID: "n1"}, Control: &protocol.NodeControl{Drain: true}})
		case r.Method == http.MethodDelete:
			_ = json.NewEncoder(w).Encode(api.Deleted{ID: "j-a"})
		default:
			_ = json.NewEncoder(w).Encode(protocol.Job{ID: "j-a", State: protocol.JobRunning, Paused: true, Shards: 4})
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		args    []string
		code    int
		request string // "" = none sent
		out     string
	}{
		{[]string{"pause", "j-a"}, 0, "POST /v1/jobs/j-a/pause", "job j-a running, paused, priority 0 (0/4 shards done)"},
		{[]string{"resume", "j-a"}, 0, "POST /v1/jobs/j-a/resume", "job j-a"},
		{[]string{"retry", "j-a"}, 0, "POST /v1/jobs/j-a/retry", "job j-a"},
		{[]string{"priority", "j-a", "--", "-3"}, 0, "POST /v1/jobs/j-a/priority", "job j-a"},
		{[]string{"rm", "j-a"}, 0, "DELETE /v1/jobs/j-a", "job j-a deleted"},
		{[]string{"rm", "--force", "j-a"}, 0, "DELETE /v1/jobs/j-a?force=1", "deleted"},
		{[]string{"drain", "n1"}, 0, "POST /v1/nodes/n1/drain", "node n1 draining"},
		{[]string{"drain", "--disable", "n1"}, 0, "POST /v1/nodes/n1/disable", "node n1"},
		{[]string{"undrain", "n1"}, 0, "POST /v1/nodes/n1/undrain", "node n1"},
		{[]string{"pause", "j-gone"}, 1, "POST /v1/jobs/j-gone/pause", ""},
		{[]string{"priority", "j-a", "high"}, 2, "", ""},
		{[]string{"pause"}, 2, "", ""},
		{[]string{"drain", "n1", "n2"}, 2, "", ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got = nil
			var stdout, stderr bytes.Buffer
			args := append([]string{tc.args[0], "--addr", srv.URL}, tc.args[1:]...)
			code := run(context.Background(), args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tc.code, stderr.String())
			}
			if (tc.request == "") != (len(got) == 0) || (tc.request != "" && got[0] != tc.request) {
				t.Fatalf("requests %v, want %q", got, tc.request)
			}
			if !strings.Contains(stdout.String(), tc.out) {
				t.Fatalf("output %q, want %q", stdout.String(), tc.out)
			}
		})
	}
}
