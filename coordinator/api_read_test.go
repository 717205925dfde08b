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
	}{{"", "", true}, {"", "t", true}, {"r", "t", true}, {"r", "", false}, {"t", "t", false},
		{"", "t\n", false}, {"r ", "t", false}, {"", " t", false}} {
		if err := checkReadToken(c.read, c.token); (err == nil) != c.ok {
			t.Errorf("read %q token %q: %v", c.read, c.token, err)
		}
	}
}

// TestDashboardViewer: logged in with the read token, the dashboard's
// pages show the jobs and nodes but no action buttons and no submit form,
// and say "read-only"; with the API token they have them.
func TestDashboardViewer(t *testing.T) {
	const readToken = "viewer-0123456789abcdef0123456789"
	h := newAPI(newFake(), apiConfig{token: testToken, readToken: readToken, id: "c1"})
	sub := httptest.NewRequest(http.MethodPost, api.PathJobs, strings.NewReader(validBody))
	sub.Header.Set("Authorization", "Bearer "+testToken)
	sw := httptest.NewRecorder()
	h.ServeHTTP(sw, sub)
	if sw.Code != http.StatusCreated {
		t.Fatalf("submit: %d %s", sw.Code, sw.Body)
	}
	page := func(token, path string) string {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.AddCookie(&http.Cookie{Name: "sanafarm_token", Value: token})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d %.300s", path, w.Code, w.Body)
		}
		return w.Body.String()
	}
	for _, path := range []string{"/ui/", "/ui/nodes"} {
		viewer, admin := page(readToken, path), page(testToken, path)
		if strings.Contains(viewer, "data-action=") || strings.Contains(viewer, `id="submit-form"`) || !strings.Contains(viewer, `id="viewer"`) {
			t.Errorf("%s for the read token: actions or the submit form shown, or no read-only mark:\n%.2000s", path, viewer)
		}
		if strings.Contains(admin, `id="viewer"`) {
			t.Errorf("%s for the API token says read-only", path)
		}
	}
	if admin := page(testToken, "/ui/"); !strings.Contains(admin, "data-action=") || !strings.Contains(admin, `id="submit-form"`) {
		t.Errorf("/ui/ for the API token lacks the actions or the submit form")
	}
}
