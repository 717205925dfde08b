package coordinator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestReadToken: the read token reads what the API token reads and
// writes nothing (403, not 401), the API token still does both, and a
// wrong token neither; the dashboard lets the read token log in.
func TestReadToken(t *testing.T) {
	const readToken = "viewer-0123456789abcdef0123456789"
	b := healthBackend{newFake(), api.Health{ID: "c1", Role: "leader", Leader: "c1", LeaderAddr: "10.0.0.1:7701"}}
	h := newAPI(b, apiConfig{token: testToken, readToken: readToken, id: "c1"})
	call := func(method, path, token, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	sub := call("POST", api.PathJobs, testToken, validBody)
	var job protocol.Job
	if sub.Code != http.StatusCreated || json.Unmarshal(sub.Body.Bytes(), &job) != nil {
		t.Fatalf("submit with the API token: %d %s", sub.Code, sub.Body)
	}
	reads := []struct{ method, path string }{{"GET", api.PathJobs}, {"GET", api.PathJobs + "/" + string(job.ID)}, {"GET", api.PathNodes}}
	writes := []struct{ method, path, body string }{
		{"POST", api.PathJobs, validBody}, {"POST", api.PathJobs + "/job-1/cancel", ""}, {"POST", api.PathJobs + "/job-1/pause", ""},
		{"POST", api.PathJobs + "/job-1/priority", `{"priority":3}`}, {"DELETE", api.PathJobs + "/job-1", ""},
		{"POST", api.PathNodes + "/node-a/drain", ""}, {"POST", api.PathNodes + "/node-a/disable", ""},
	}
	for _, rd := range reads {
		if w := call(rd.method, rd.path, readToken, ""); w.Code != http.StatusOK {
			t.Errorf("%s %s with the read token: %d %s", rd.method, rd.path, w.Code, w.Body)
		}
		if w := call(rd.method, rd.path, "wrong", ""); w.Code != http.StatusUnauthorized {
			t.Errorf("%s %s with a wrong token: %d", rd.method, rd.path, w.Code)
		}
	}
	for _, wr := range writes {
		w := call(wr.method, wr.path, readToken, wr.body)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "read-only token") ||
			!strings.Contains(w.Body.String(), string(protocol.CodeForbidden)) {
			t.Errorf("%s %s with the read token: %d %s, want 403", wr.method, wr.path, w.Code, w.Body)
		}
		if w := call(wr.method, wr.path, "wrong", wr.body); w.Code != http.StatusUnauthorized {
			t.Errorf("%s %s with a wrong token: %d, want 401", wr.method, wr.path, w.Code)
		}
	}
	if w := call("GET", api.PathHealth, readToken, ""); !strings.Contains(w.Body.String(), "10.0.0.1:7701") {
		t.Errorf("health with the read token is not the full answer: %s", w.Body)
	}
	form := url.Values{"token": {readToken}, "next": {"/ui/"}}
	r := httptest.NewRequest(http.MethodPost, "/ui/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther {
		t.Errorf("dashboard log-in with the read token: %d %.300s", w.Code, w.Body)
	}
}

// TestReadTokenSpendsNoBudget: a viewer pressing buttons is refused, but
// not throttled: the read token is known, not wrong.
func TestReadTokenSpendsNoBudget(t *testing.T) {
	const readToken = "viewer-0123456789abcdef0123456789"
	h := newAPI(newFake(), apiConfig{token: testToken, readToken: readToken, id: "c1"})
	for i := range 3 * authFailBurst {
		r := httptest.NewRequest(http.MethodPost, api.PathJobs+"/job-1/cancel", nil)
		r.RemoteAddr = "198.51.100.7:1"
		r.Header.Set("Authorization", "Bearer "+readToken)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusForbidden {
			t.Fatalf("write %d with the read token: %d, want 403 (not throttled)", i, w.Code)
		}
	}
}

func TestCheckReadToken(t *testing.T) {
	for _, c := range []struct {
		read, token string
		ok          bool
	}{{"", "", true}, {"", "t", true}, {"r", "t", true}, {"r", "", false}, {"t", "t", false}} {
		if err := checkReadToken(c.read, c.token); (err == nil) != c.ok {
			t.Errorf("read %q token %q: %v", c.read, c.token, err)
		}
	}
}
