package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestCLIJobIDNeverShapesTheURL (issue 13 item 8): `status` and `cancel`
// refuse an argument that is not a job id (exit 1, naming it) before
// any request, and `status --limit` above the API's page is a usage error.
func TestCLIJobIDNeverShapesTheURL(t *testing.T) {
	var requests atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		http.Error(w, "no requests expected", http.StatusTeapot)
	}))
	defer api.Close()
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"status", "../../v1/nodes"}, 1, `"../../v1/nodes"`},
		{[]string{"status", "a?tasks=1&limit=1000000000"}, 1, `invalid job id "a?tasks=1&limit=1000000000"`},
		{[]string{"cancel", "j-1/../x#y"}, 1, `"j-1/../x#y"`},
		{[]string{"cancel", ".."}, 1, `invalid job id ".."`},
		{[]string{"status", "j-1", "--tasks", "--limit", "1000000000"}, 2, "--limit"},
	}
	for _, c := range cases {
		code, stdout, stderr := sanafarm(append(c.args, "--addr", api.URL, "--token", "t")...)
		if code != c.code || stdout != "" || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d naming %s", c.args, code, stdout, stderr, c.code, c.want)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("%d requests reached the API", n)
	}
}
