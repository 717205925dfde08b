package coordinator

import (
	"encoding/json"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/coordinator/state"
	"github.com/sanafarm/sanafarm/protocol"
)

// storeBackend is the fake with the real JobDetail over a state store.
type storeBackend struct {
	*fakeBackend
	srv *Server
}

func (b storeBackend) JobDetail(id protocol.JobID, from, limit int) (api.JobDetail, bool) {
	return b.srv.JobDetail(id, from, limit)
}

// hugeJobStore holds j-huge, a job of 6.9e13 shards as a coordinator
// before the size limits accepted it (and as its Raft log may still hold).
func hugeJobStore(t testing.TB) *state.Store {
	t.Helper()
	st := state.New()
	spec := protocol.JobSpec{Model: protocol.TinyPreset, ImagesPerPrompt: protocol.MaxImagesPerPrompt, ShardSize: 1,
		Prompts: protocol.PromptSource{URL: "s3://b/p.txt", Rows: protocol.MaxRows}, Output: protocol.OutputSpec{URL: "/o"}}
	if err := st.UpsertJob(1, protocol.JobSubmit{Job: protocol.Job{ID: "j-huge", Spec: spec}, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestAPITaskPageLimit (issue 13 item 1): a task listing never follows a
// client-given size. `limit=1000000000` on a job of 6.9e13 shards used to
// preallocate a billion tasks and kill the coordinator.
func TestAPITaskPageLimit(t *testing.T) {
	srv := newTestAPI(t, storeBackend{fakeBackend: newFake(), srv: &Server{store: hugeJobStore(t)}})
	cases := []struct {
		query      string
		status     int
		field      string // of a 400
		tasks      int
		firstShard int
	}{
		{"", 200, "", 0, 0},
		{"?limit=1000000000", 200, "", 0, 0}, // no tasks=1: no listing
		{"?tasks=1", 200, "", api.MaxTaskPage, 0},
		{"?tasks=true&limit=3&from=5", 200, "", 3, 5},
		{"?tasks=1&limit=1000", 200, "", 1000, 0},
		{"?tasks=1&limit=0", 200, "", 0, 0},
		{"?tasks=1&limit=1001", 400, "limit", 0, 0},
		{"?tasks=1&limit=1000000000", 400, "limit", 0, 0},
		{"?tasks=1&limit=99999999999999999999999", 400, "limit", 0, 0},
		{"?tasks=1&limit=-1", 400, "limit", 0, 0},
		{"?tasks=1&limit=1e3", 400, "limit", 0, 0},
		{"?tasks=1&from=99999999&limit=2", 200, "", 2, 99999999},
		{"?tasks=1&from=100000001&limit=2", 400, "from", 0, 0},
		{"?tasks=1&from=9223372036854775807&limit=10", 400, "from", 0, 0},
		{"?tasks=1&from=-9223372036854775808&limit=10", 400, "from", 0, 0},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			start := time.Now()
			resp := call(t, srv.URL, "GET", "/v1/jobs/j-huge"+c.query, testToken, "")
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			if c.status != 200 {
				var e protocol.Error
				if json.Unmarshal(body, &e) != nil || len(e.Fields) != 1 || e.Fields[0].Field != c.field || e.Fields[0].Value == "" {
					t.Fatalf("error %s, want one field error naming %s and its value", body, c.field)
				}
				return
			}
			var d api.JobDetail
			if err := json.Unmarshal(body, &d); err != nil {
				t.Fatal(err)
			}
			if len(d.Tasks) != c.tasks || (c.tasks > 0 && d.Tasks[0].Shard != c.firstShard) {
				t.Fatalf("%d tasks from %v, want %d from shard %d", len(d.Tasks), d.Tasks[:min(len(d.Tasks), 1)], c.tasks, c.firstShard)
			}
		})
	}
}

// TestJobDetailBoundedAlloc: the backend caps the page as well, and sizes
// nothing from the caller's limit (a direct caller of JobDetail, or a
// future route that forgets the HTTP check).
func TestJobDetailBoundedAlloc(t *testing.T) {
	s := &Server{store: hugeJobStore(t)}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	d, ok := s.JobDetail("j-huge", 0, 1_000_000_000)
	runtime.ReadMemStats(&after)
	if !ok || len(d.Tasks) != api.MaxTaskPage {
		t.Fatalf("ok %v, %d tasks, want %d", ok, len(d.Tasks), api.MaxTaskPage)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
		t.Fatalf("allocated %d bytes for one page", n)
	}
	for _, from := range []int{-1, 1 << 62} {
		if d, _ := s.JobDetail("j-huge", from, 10); len(d.Tasks) != 0 {
			t.Fatalf("from %d: %d tasks", from, len(d.Tasks))
		}
	}
}

// TestAPIRefusesHugeJobs (issue 13 item 1): a client's prompts.rows is
// bounded; the 6.9e13-shard job of the report is a 400 naming the field.
func TestAPIRefusesHugeJobs(t *testing.T) {
	srv := newTestAPI(t, newFake())
	cases := []struct{ name, body, field, value string }{
		{"6.9e13 shards", `{"model":"sana-tiny","images_per_prompt":1000,"shard_size":1,"prompts":{"url":"s3://b/p.txt","rows":68719476736},"output":{"url":"/o"}}`,
			"prompts.rows", "68719476736"},
		{"1e8+ shards", `{"model":"sana-tiny","shard_size":1,"prompts":{"url":"s3://b/p.txt","rows":100000001},"output":{"url":"/o"}}`,
			"shard_size", "1"},
		{"rows past int64", `{"model":"sana-tiny","prompts":{"url":"s3://b/p.txt","rows":99999999999999999999},"output":{"url":"/o"}}`,
			"prompts.rows", "number 99999999999999999999"},
		{"long reason", "", "reason", "1025 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, body := "/v1/jobs", c.body
			if c.field == "reason" {
				path, body = "/v1/jobs/j-1/cancel", `{"reason":"`+strings.Repeat("r", api.MaxReason+1)+`"}`
			}
			resp := call(t, srv.URL, "POST", path, testToken, body)
			defer resp.Body.Close()
			var e protocol.Error
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != 400 {
				t.Fatalf("status %d, body %+v (%v)", resp.StatusCode, e, err)
			}
			if len(e.Fields) == 0 || e.Fields[0].Field != c.field || e.Fields[0].Value != c.value {
				t.Fatalf("fields %+v, want %s = %s", e.Fields, c.field, c.value)
			}
		})
	}
}
