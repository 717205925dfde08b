package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/internal/testcluster"
	"github.com/sanafarm/sanafarm/protocol"
)

// fakeJobAPI accepts one submit and then answers job polls with the
// states of script in turn (the last one repeats).
func fakeJobAPI(t *testing.T, script ...protocol.Job) (*httptest.Server, func() int) {
	t.Helper()
	var mu sync.Mutex
	polls := 0
	var id protocol.JobID
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			id = protocol.JobID(r.URL.Query().Get("id"))
			j := script[0]
			j.ID, j.State = id, protocol.JobQueued
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(j)
			return
		}
		j := script[min(polls, len(script)-1)]
		j.ID = id
		polls++
		_ = json.NewEncoder(w).Encode(api.JobDetail{Job: j})
	}))
	t.Cleanup(srv.Close)
	return srv, func() int { mu.Lock(); defer mu.Unlock(); return polls }
}

// TestSubmitWait: --wait ends with the job — 1 and the coordinator's
// reasons for a job that failed (e.g. no live node may run it) — and for a
// done job waits until its manifest is recorded (issue 13 items 3 and 7),
// failing with a clear message after --manifest-timeout.
func TestSubmitWait(t *testing.T) {
	base := protocol.Job{Images: 1, Shards: 1}
	running := base
	running.State = protocol.JobRunning
	done := base
	done.State, done.ImagesDone, done.ShardsDone = protocol.JobDone, 1, 1
	manifested := done
	manifested.ManifestAt = time.Now()
	failed := base
	failed.State, failed.Error = protocol.JobFailed, `no live node may run it (n0: blocklisted after 2 failed attempts); failures: "model nobody/x not found"`
	cases := []struct {
		name      string
		script    []protocol.Job
		code      int
		stderr    []string
		minPolls  int
		extraArgs []string
	}{
		{name: "done waits for the manifest", script: []protocol.Job{running, done, done, done, manifested},
			stderr: []string{"waiting for its manifest"}, minPolls: 5},
		{name: "failed job exits 1 with the reasons", script: []protocol.Job{running, failed}, code: 1,
			stderr: []string{"failed", "no live node may run it", "model nobody/x not found"}},
		{name: "manifest never recorded", script: []protocol.Job{done}, code: 1, extraArgs: []string{"--manifest-timeout", "100ms"},
			stderr: []string{"is done, but its manifest", "was not recorded within 100ms"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, polls := fakeJobAPI(t, c.script...)
			args := append([]string{"submit", "--addr", srv.URL, "--token", "t", "--model", "sana-tiny", "-p", "a fox",
				"--dest", filepath.Join(t.TempDir(), "out"), "--wait", "--poll", "10ms"}, c.extraArgs...)
			code, _, stderr := sanafarm(args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d: %s", code, c.code, stderr)
			}
			for _, want := range c.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q lacks %q", stderr, want)
				}
			}
			if polls() < c.minPolls {
				t.Errorf("%d polls; exited before the manifest was recorded", polls())
			}
		})
	}
}

// TestSubmitWaitUnrunnableModel: against a real farm (one coordinator,
// two CPU nodes), `submit --wait` of a model id that does not exist ends
// with exit status 1 and the reason, instead of waiting forever.
func TestSubmitWaitUnrunnableModel(t *testing.T) {
	t.Setenv("HF_HUB_OFFLINE", "1")
	t.Setenv("HF_HOME", t.TempDir())
	c := testcluster.Start(t, testcluster.Options{Coordinators: 1, Nodes: 2, Token: "tok"})
	code, _, stderr := sanafarm("submit", "--addr", c.Leader().URL(), "--token", "tok", "--model", "nobody/no-such-model",
		"-p", "a red fox", "--dest", filepath.Join(c.OutputDir, "typo"), "--wait", "--poll", "50ms", "-q")
	if code != 1 || !strings.Contains(stderr, "no live node may run it") || !strings.Contains(stderr, "nobody/no-such-model") {
		t.Fatalf("exit %d, want 1 with the reason: %s", code, stderr)
	}
}
