package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/internal/testcluster"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestStatusWatch: status JOB --watch follows a real sana-tiny job through
// the event stream and exits 0 once it is done.
func TestStatusWatch(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Coordinators: 1, Nodes: 1, Token: "tok"})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	spec := protocol.JobSpec{Model: protocol.TinyPreset, Width: 128, Height: 128, Steps: 2, Seed: 42, ImagesPerPrompt: 1,
		Prompts: protocol.PromptSource{Inline: []string{"a red house", "a blue lake", "a fox", "a cat"}},
		Output:  protocol.OutputSpec{URL: "file://" + filepath.Join(c.OutputDir, "watch")}, ShardSize: 2}
	job, err := client.New(c.Leader().URL(), "tok").SubmitJob(ctx, spec)
	if err != nil {
		t.Fatalf("submitting: %v", err)
	}
	code, stdout, stderr := sanafarm("status", string(job.ID), "--watch", "--addr", c.Leader().URL(), "--token", "tok")
	if code != 0 || !strings.Contains(stdout, "done: 4/4 images, 2/2 shards") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	t.Logf("status --watch:\n%s", stdout)
	if j, _ := c.Leader().Store().JobByID(job.ID); j.State != protocol.JobDone {
		t.Fatalf("watch ended with the job %s", j.State)
	}
	// submit --wait's waiter on the stream: a done job until its manifest.
	f := submitFlags{quiet: true, manifestTimeout: 30 * time.Second}
	final, err := waitJobStream(ctx, client.New(c.Leader().URL(), "tok"), job, f, io.Discard)
	if err != nil || final.State != protocol.JobDone || final.ManifestAt.IsZero() {
		t.Fatalf("waitJobStream: %+v: %v", final, err)
	}
}

// TestWaitJobStreamFallsBack: against a coordinator without the event
// stream, submit --wait's stream waiter polls like before.
func TestWaitJobStreamFallsBack(t *testing.T) {
	running := protocol.Job{Images: 1, Shards: 1, State: protocol.JobRunning}
	done := running
	done.State, done.ImagesDone, done.ShardsDone, done.ManifestAt = protocol.JobDone, 1, 1, time.Now()
	srv, polls := fakeJobAPI(t, running, running, done)
	job := running
	job.ID = protocol.NewJobID()
	f := submitFlags{quiet: true, pollInterval: 10 * time.Millisecond, manifestTimeout: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	final, err := waitJobStream(ctx, client.New(srv.URL, "t"), job, f, io.Discard)
	if err != nil || final.State != protocol.JobDone || polls() < 3 {
		t.Fatalf("final %+v after %d polls: %v", final, polls(), err)
	}
}
