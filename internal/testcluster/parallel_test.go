package testcluster_test

import (
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/testcluster"
	"github.com/sanafarm/sanafarm/protocol"
)

// runJob submits spec and waits until it is terminal.
func runJob(ctx context.Context, t *testing.T, c *testcluster.Cluster, spec protocol.JobSpec) protocol.Job {
	t.Helper()
	job, err := c.Client().SubmitJob(ctx, spec)
	if err != nil {
		t.Fatalf("submitting: %v", err)
	}
	j, err := c.WaitJob(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// TestParallelJob: sp:2 and cfg:2 jobs on 2 real sana-tiny nodes complete
// as gangs of both nodes, rank 0 writes every shard, and every image
// equals the single-node job's (decoded pixels within 1 level).
func TestParallelJob(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Coordinators: 1, Nodes: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	want := filepath.Join(c.OutputDir, "single")
	if j := runJob(ctx, t, c, tinyJob(want, 2, 2, 2)); j.State != protocol.JobDone {
		t.Fatalf("single-node job %+v", j)
	}
	for _, plan := range []string{"sp:2", "cfg:2"} {
		t.Run(plan, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // each job its own: CI machines are loaded
			defer cancel()
			out := filepath.Join(c.OutputDir, strings.ReplaceAll(plan, ":", ""))
			spec := tinyJob(out, 2, 2, 2) // 2 shards × 2 images
			spec.Parallel = plan
			j := runJob(ctx, t, c, spec)
			if j.State != protocol.JobDone {
				t.Fatalf("job %+v", j)
			}
			tasks := c.Leader().Store().TasksByJob(j.ID, 0, 0)
			for _, tk := range tasks {
				if len(tk.Peers) != 2 || tk.Peers[0] == tk.Peers[1] || tk.Result == nil || tk.Result.Node != tk.Peers[0] {
					t.Errorf("shard %d: peers %v, result %+v: want a gang of 2 nodes, rank 0 reporting", tk.Shard, tk.Peers, tk.Result)
				}
			}
			checkOutput(t, out, tasks, 2) // stats name the writer: rank 0
			comparePNGs(t, want, out)
		})
	}
}

// comparePNGs checks that got holds the same PNG files as want with
// pixels within one level.
func comparePNGs(t *testing.T, want, got string) {
	t.Helper()
	files := pngFiles(t, want)
	if g := pngFiles(t, got); !slices.Equal(files, g) || len(files) == 0 {
		t.Fatalf("PNG files %v, want %v", g, files)
	}
	for _, f := range files {
		a, b := decodePNG(t, filepath.Join(want, f)), decodePNG(t, filepath.Join(got, f))
		if !a.Bounds().Eq(b.Bounds()) {
			t.Fatalf("%s: bounds %v, want %v", f, b.Bounds(), a.Bounds())
		}
		worst := 0
		for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
			for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
				p, q := a.At(x, y), b.At(x, y)
				r1, g1, b1, _ := p.RGBA()
				r2, g2, b2, _ := q.RGBA()
				for _, d := range []int{int(r1>>8) - int(r2>>8), int(g1>>8) - int(g2>>8), int(b1>>8) - int(b2>>8)} {
					worst = max(worst, d, -d)
				}
			}
		}
		if worst > 1 {
			t.Errorf("%s: max pixel difference %d levels", f, worst)
		}
		t.Logf("%s: max pixel difference %d", f, worst)
	}
}

func pngFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".png") {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// TestParallelRankKilled: one rank's node of an sp:2 gang is hard-killed
// mid-shard; the attempt fails (usually the surviving rank reports its
// lost peer, well before the dead node's etcd lease expires), and within
// a bounded time the shard is retried as a whole on a new gang, which
// must include the survivor (the only other live nodes are it and one
// more), so the survivor's rank has ended; the job completes.
func TestParallelRankKilled(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Coordinators: 1, Nodes: 3, NodeLeaseTTL: 20 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out := filepath.Join(c.OutputDir, "rank-kill")
	spec := tinyJob(out, 6, 1, 6) // 1 shard × 6 images
	spec.Parallel = "sp:2"
	job, err := c.Client().SubmitJob(ctx, spec)
	if err != nil {
		t.Fatalf("submitting: %v", err)
	}
	var victim protocol.Task
	waitFor(t, 90*time.Second, "a gang mid-shard", func() bool {
		victim, _ = c.Leader().Store().TaskByKey(protocol.TaskKey{Job: job.ID, Shard: 0})
		return victim.State == protocol.TaskLeased && len(victim.Peers) == 2 && victim.Progress >= 1 && victim.Progress < 6
	})
	killed := victim.Peers[1]
	c.KillNode(slices.Index([]string{"n0", "n1", "n2"}, killed))
	t.Logf("killed %s (rank 1 of %v) at %d/6 images, attempt %d", killed, victim.Peers, victim.Progress, victim.Attempt)
	retried := waitFor(t, 20*time.Second, "the shard retried on a new gang", func() bool {
		tk, _ := c.Leader().Store().TaskByKey(victim.TaskKey)
		return tk.Attempt > victim.Attempt && (tk.State == protocol.TaskLeased || tk.State == protocol.TaskDone)
	})
	tk, _ := c.Leader().Store().TaskByKey(victim.TaskKey)
	t.Logf("attempt %d failed and the shard was re-leased %v after the kill; failures %+v", victim.Attempt,
		retried.Round(time.Millisecond), tk.Failures)
	// The survivor reports the loss: its peer went silent ("peer lost"), or
	// the killed rank's cancellation reached it first ("group aborted by
	// rank 1": in this process a killed node's gang connection outlives
	// the kill by a moment).
	lostPeer := func(reason string) bool {
		return strings.Contains(reason, "peer lost") || strings.Contains(reason, "group aborted by rank 1")
	}
	if f := tk.Failures[len(tk.Failures)-1]; f.Reason != "node lost" && (f.Node != victim.Peers[0] || !lostPeer(f.Reason)) {
		t.Errorf("failure %+v: want the survivor %s reporting its lost peer, or node loss", f, victim.Peers[0])
	}
	if !slices.Contains(tk.Peers, victim.Peers[0]) && tk.State == protocol.TaskLeased {
		t.Errorf("retry gang %v lacks the survivor %s", tk.Peers, victim.Peers[0])
	}
	j, err := c.WaitJob(ctx, job.ID)
	if err != nil || j.State != protocol.JobDone {
		t.Fatalf("job %+v: %v", j, err)
	}
	tk, _ = c.Leader().Store().TaskByKey(victim.TaskKey)
	if tk.Attempt <= victim.Attempt || slices.Contains(tk.Peers, killed) || len(tk.Peers) != 2 {
		t.Errorf("final attempt %d on %v (killed %s in attempt %d)", tk.Attempt, tk.Peers, killed, victim.Attempt)
	}
	checkOutput(t, out, []protocol.Task{tk}, 6)
}

// TestParallelTooWide: a tp:3 job on a 2-node cluster fails with a reason
// naming the shortage instead of waiting forever.
func TestParallelTooWide(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Coordinators: 1, Nodes: 2})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := tinyJob(filepath.Join(c.OutputDir, "wide"), 1, 1, 1)
	spec.Parallel = "tp:3"
	start := time.Now()
	j := runJob(ctx, t, c, spec)
	if j.State != protocol.JobFailed || !strings.Contains(j.Error, "needs 3 nodes, 2 live") {
		t.Fatalf("job %s: %q", j.State, j.Error)
	}
	t.Logf("failed after %v: %s", time.Since(start).Round(time.Millisecond), j.Error)
}
