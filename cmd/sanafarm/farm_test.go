package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/internal/embedded"
	"github.com/sanafarm/sanafarm/internal/syncbuf"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// startDev runs `sanafarm dev` in-process on free ports and returns its
// API address; cleanup cancels it (Ctrl-C) and checks it exits 0.
func startDev(t *testing.T) string {
	t.Helper()
	t.Setenv("SANAFARM_CACHE", t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--log-level", "error",
			"--allow-read", os.TempDir(), "--allow-write", os.TempDir()}, &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("dev exited %d: %s", code, stderr.String())
		}
		if !strings.Contains(stdout.String(), "shutting down") || !regexp.MustCompile(`dashboard: http://\S+/ui/`).MatchString(stdout.String()) {
			t.Errorf("dev output %q", stdout.String())
		}
	})
	re := regexp.MustCompile(`API (http://\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("dev exited %d: %s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("dev printed no API address: %s", stderr.String())
	return ""
}

// sanafarm runs a command and returns its exit code and outputs.
func sanafarm(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestDevSubmitStatusNodes drives the all-in-one farm through the CLI:
// submit a prompt file with --wait (real sana-tiny), read the job and the
// nodes as JSON, and check the exit codes scripts rely on.
func TestDevSubmitStatusNodes(t *testing.T) {
	addr := startDev(t)
	dir := t.TempDir()
	prompts := filepath.Join(dir, "prompts.txt")
	if err := os.WriteFile(prompts, []byte("a red fox\na lighthouse\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	code, stdout, stderr := sanafarm("submit", "--addr", addr, "--model", "sana-tiny", "--prompts", prompts,
		"-n", "2", "--steps", "2", "--width", "128", "--height", "128", "--shard-size", "2", "--dest", out, "--wait", "-o", "json")
	if code != 0 {
		t.Fatalf("submit exit %d: %s", code, stderr)
	}
	var job protocol.Job
	if err := json.Unmarshal([]byte(stdout), &job); err != nil || job.State != protocol.JobDone || job.ImagesDone != 4 ||
		job.Shards != 2 || len(job.Spec.Prompts.Inline) != 2 {
		t.Fatalf("submit printed %s (%v)", stdout, err)
	}
	pngs, _ := filepath.Glob(filepath.Join(out, "*", "*.png"))
	if len(pngs) != 4 {
		t.Errorf("%d PNGs under %s", len(pngs), out)
	}
	var st storage.ShardStats
	if b, err := os.ReadFile(filepath.Join(out, "00000_stats.json")); err != nil || json.Unmarshal(b, &st) != nil || st.GPU != "cpu" {
		t.Errorf("shard stats %+v (%v): want GPU \"cpu\"", st, err)
	}

	code, stdout, stderr = sanafarm("status", "--addr", addr, string(job.ID), "--output", "json")
	var d api.JobDetail
	if code != 0 || json.Unmarshal([]byte(stdout), &d) != nil || d.Counts.Done != 2 {
		t.Errorf("status exit %d: %s %s", code, stdout, stderr)
	}
	code, stdout, _ = sanafarm("status", "--addr", addr)
	if code != 0 || !strings.Contains(stdout, string(job.ID)) || !strings.Contains(stdout, "done") {
		t.Errorf("status list exit %d: %s", code, stdout)
	}
	code, stdout, _ = sanafarm("nodes", "--addr", addr, "--output", "json")
	var nl api.NodeList
	if code != 0 || json.Unmarshal([]byte(stdout), &nl) != nil || len(nl.Nodes) != 1 || !nl.Nodes[0].Live ||
		nl.Nodes[0].Info.ID != "dev-cpu0" || nl.Nodes[0].Info.Precision != "f32" || nl.Nodes[0].Info.CUDAGraphs {
		t.Errorf("nodes exit %d: %s", code, stdout)
	}
	if code, stdout, _ = sanafarm("nodes", "--addr", addr); code != 0 || !strings.Contains(stdout, "cpu · f32") {
		t.Errorf("nodes table exit %d, want the backend with its precision: %s", code, stdout)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"cancel a finished job", []string{"cancel", "--addr", addr, string(job.ID)}, 1},
		{"status of an unknown job", []string{"status", "--addr", addr, "j-nope"}, 1},
		{"bad output format", []string{"nodes", "--addr", addr, "--output", "yaml"}, 2},
		{"no prompts", []string{"submit", "--addr", addr, "--model", "sana-tiny", "--dest", out}, 2},
		{"missing job argument", []string{"cancel", "--addr", addr}, 2},
		{"unreachable coordinator", []string{"nodes", "--addr", "http://127.0.0.1:1"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _, stderr := sanafarm(tc.args...); code != tc.code {
				t.Errorf("exit %d, want %d: %s", code, tc.code, stderr)
			}
		})
	}
}

// TestHelp: every command answers --help with exit 0 and its usage.
func TestHelp(t *testing.T) {
	root := newRoot(io.Discard, io.Discard)
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			code, stdout, stderr := sanafarm(c.Name(), "--help")
			want := c.Long
			if want == "" {
				want = c.Short
			}
			if code != 0 || !strings.Contains(stdout, "Usage:") || !strings.Contains(stdout, want) {
				t.Errorf("exit %d: %s %s", code, stdout, stderr)
			}
		})
	}
}

// TestCoordinatorAndNodeCommands runs `sanafarm coordinator` (a one-voter
// cluster) and `sanafarm node` against embedded etcd and NATS, and a job
// through them.
func TestCoordinatorAndNodeCommands(t *testing.T) {
	t.Setenv("SANAFARM_CACHE", t.TempDir())
	t.Setenv("SANAFARM_TOKEN", "s3cret")
	e, err := embedded.StartEtcd(context.Background(), embedded.EtcdConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	n, err := embedded.StartNATS(embedded.NATSConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	coordLog := runDaemon(t, "coordinator", "--id", "c1", "--data", t.TempDir(), "--bootstrap", "--raft-bind", "127.0.0.1:0",
		"--http", "127.0.0.1:0", "--nats", n.URL(), "--etcd", e.Endpoints()[0], "--allow-write", os.TempDir(), "--min-data-free", "0")
	runDaemon(t, "node", "--id", "box1", "--nats", n.URL(), "--etcd", e.Endpoints()[0], "--poll-interval", "100ms",
		"--allow-write", os.TempDir())
	var addr string
	waitUntil(t, "the coordinator's API address", func() bool {
		m := regexp.MustCompile(`api=(http://\S+)`).FindStringSubmatch(coordLog.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	waitUntil(t, "node box1 to be listed", func() bool {
		code, stdout, _ := sanafarm("nodes", "--addr", addr)
		return code == 0 && strings.Contains(stdout, "box1")
	})
	if code, _, stderr := sanafarm("nodes", "--addr", addr, "--token", "wrong"); code != 1 || !strings.Contains(stderr, "unauthorized") {
		t.Errorf("wrong token: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := sanafarm("submit", "--addr", addr, "--model", "sana-tiny", "-p", "a red fox", "--steps", "2",
		"--width", "128", "--height", "128", "--dest", t.TempDir(), "--wait")
	if code != 0 || !strings.Contains(stdout, "done: 1 image in 1 shard") || !strings.Contains(stdout, "images/s") ||
		!strings.Contains(stdout, "/manifest.jsonl (and manifest.parquet") {
		t.Fatalf("submit exit %d: %s %s", code, stdout, stderr)
	}
}

// runDaemon runs a long-lived command until cleanup cancels it; it must
// then exit 0. It returns the command's stderr (its log).
func runDaemon(t *testing.T, args ...string) *syncbuf.Buffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncbuf.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &stdout, &stderr) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("%s exited %d: %s", args[0], code, stderr.String())
		}
	})
	return &stderr
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
