package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestStatusNoJobs: status with no jobs says so and how to submit one
// instead of printing a bare table header; -o json stays an empty list
// ("jobs": [], not null); a list with jobs keeps its header.
func TestStatusNoJobs(t *testing.T) {
	var jobs []protocol.Job
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != api.PathJobs {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(api.JobList{Jobs: jobs})
	}))
	defer srv.Close()
	for _, c := range []struct {
		args      []string
		jobs      []protocol.Job
		want, not string
	}{
		{nil, nil, "no jobs yet: submit one with 'sanafarm submit", "JOB"},
		{[]string{"--state", "failed"}, nil, "no failed jobs (sanafarm status lists them all)", "JOB"},
		{[]string{"-o", "json"}, nil, `"jobs": []`, "no jobs"},
		{nil, []protocol.Job{{ID: "j-a", State: protocol.JobRunning}}, "JOB", "no jobs"},
	} {
		jobs = c.jobs
		code, stdout, stderr := sanafarm(append([]string{"status", "--addr", srv.URL}, c.args...)...)
		if code != 0 || !strings.Contains(stdout, c.want) || strings.Contains(stdout, c.not) {
			t.Errorf("status %v: exit %d, stdout %q (want %q, not %q), stderr %q", c.args, code, stdout, c.want, c.not, stderr)
		}
	}
}

// TestPrintTasksMarksUncounted: a failure without a fault is listed, marked
// as not counted toward max attempts; a counted one is not marked; a
// node's own fault says so, and whether it counted (past the cap).
func TestPrintTasksMarksUncounted(t *testing.T) {
	var b strings.Builder
	err := printTasks(&b, []protocol.Task{{TaskKey: protocol.TaskKey{Job: "j", Shard: 3}, State: protocol.TaskQueued, Attempt: 2,
		Failures: []protocol.Failure{{Attempt: 1, Node: "n1", Reason: protocol.ReasonDraining, NoFault: true}, {Attempt: 2, Node: "n2", Reason: "oom"},
			{Attempt: 3, Node: "n3", Reason: "disk full", NoFault: true, NodeFault: true}, {Attempt: 4, Node: "n3", Reason: "disk full", NodeFault: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "#1 n1: draining (not counted); #2 n2: oom; #3 n3: disk full (the node's fault, not counted); #4 n3: disk full (the node's fault); ") {
		t.Errorf("tasks table:\n%s", out)
	}
}

// TestStatusJobTimeout: a job's details show its timeout and when the
// current run fails by it; a job without one shows no such line.
func TestStatusJobTimeout(t *testing.T) {
	created := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	job := protocol.Job{ID: "j-t", State: protocol.JobRunning, CreatedAt: created, RunSince: created.Add(time.Hour),
		Spec: protocol.JobSpec{Model: protocol.TinyPreset, Timeout: "36h"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(api.JobDetail{Job: job})
	}))
	defer srv.Close()
	want := "timeout:  36h from the run's start: fails at " + created.Add(37*time.Hour).Local().Format(time.DateTime)
	code, stdout, stderr := sanafarm("status", "--addr", srv.URL, "j-t")
	if code != 0 || !strings.Contains(stdout, want) {
		t.Errorf("status j-t: exit %d, stdout %q, want %q; stderr %q", code, stdout, want, stderr)
	}
	job.Spec.Timeout = ""
	if _, stdout, _ := sanafarm("status", "--addr", srv.URL, "j-t"); strings.Contains(stdout, "timeout:") {
		t.Errorf("a job without a timeout: %q", stdout)
	}
}
