package dashboard

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// fakeOpen serves job-1's manifest and its shards' stats.
func fakeOpen(_ context.Context, j protocol.Job, key string) (io.ReadCloser, error) {
	if j.ID != "job-1" {
		return nil, errors.New("no output")
	}
	switch key {
	case "manifest.jsonl":
		return io.NopCloser(strings.NewReader(`{"key":"000000000"}` + "\n")), nil
	case "00000_stats.json":
		return io.NopCloser(strings.NewReader(`{"shard":0}`)), nil
	}
	return nil, errors.New("not found")
}

func TestOutputFiles(t *testing.T) {
	f := newFakeFarm("")
	f.jobs["job-1"].ManifestAt = time.Now()
	srv := httptest.NewServer(New(Config{Connect: f.as, Open: fakeOpen}))
	defer srv.Close()
	c := client(t)
	_, page := get(t, c, srv.URL+"/ui/jobs/job-1")
	for _, want := range []string{`href="/ui/jobs/job-1/manifest.jsonl"`, `href="/ui/jobs/job-1/stats/0"`} {
		if !strings.Contains(page, want) {
			t.Errorf("job page lacks %s", want)
		}
	}
	for _, tc := range []struct {
		path, want, ctype string
		status            int
	}{
		{"/ui/jobs/job-1/manifest.jsonl", `{"key":"000000000"}`, "application/x-ndjson", 200},
		{"/ui/jobs/job-1/stats/0", `{"shard":0}`, "application/json", 200},
		{"/ui/jobs/job-1/stats/1", "", "", 404},  // not in the store
		{"/ui/jobs/job-1/stats/99", "", "", 404}, // no such shard
		{"/ui/jobs/job-1/stats/x", "", "", 404},
		{"/ui/jobs/nope/manifest.jsonl", "", "", 404},
	} {
		resp, body := get(t, c, srv.URL+tc.path)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) ||
			(tc.ctype != "" && resp.Header.Get("Content-Type") != tc.ctype) {
			t.Errorf("%s: %d %s %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	if resp, _ := get(t, c, srv.URL+"/ui/jobs/job-1/manifest.jsonl"); !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("manifest is not a download: %q", resp.Header.Get("Content-Disposition"))
	}
}

func TestSubmitUploadedPrompts(t *testing.T) {
	srv, f := newServer(t, false)
	c := client(t)
	_, page := get(t, c, srv.URL+"/ui/")
	tok := csrfOf(t, page)
	send := func(name, content string) (int, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		for k, v := range map[string]string{"name": "upload-" + name, "output": "/data/out", "prompts": "typed one"} {
			_ = mw.WriteField(k, v)
		}
		fw, _ := mw.CreateFormFile("prompts_file", name)
		_, _ = io.WriteString(fw, content)
		_ = mw.Close()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/ui/submit", &b)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set(csrfHeader, tok)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if status, body := send("p.txt", "a fox\n\nan owl\r\n"); status != 200 {
		t.Fatalf("txt upload: %d %s", status, body)
	}
	if status, body := send("p.csv", "prompt\na fox\n"); status != 400 || !strings.Contains(body, "prompts_file") {
		t.Fatalf("csv upload: %d %s, want 400 naming prompts_file", status, body)
	}
	if status, body := send("bad.txt", "ok\n\xff\xfe\n"); status != 400 || !strings.Contains(body, "UTF-8") {
		t.Fatalf("invalid UTF-8: %d %s", status, body)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, j := range f.jobs {
		if j.Spec.Name == "upload-p.txt" {
			if got := strings.Join(j.Spec.Prompts.Inline, "|"); got != "a fox|an owl|typed one" {
				t.Fatalf("prompts %q", got)
			}
			return
		}
	}
	t.Fatal("the uploaded job never reached the API")
}
