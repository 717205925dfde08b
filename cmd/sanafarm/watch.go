package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/protocol"
)

// Following a job through the coordinator's event stream (GET /v1/events,
// docs/architecture.md "Event stream") instead of polling it: `status
// --watch` and `submit --wait`.

// errNoEventStream: the coordinator predates the event stream (the caller
// polls instead).
var errNoEventStream = errors.New("the coordinator has no event stream")

// jobWatch follows one job.
type jobWatch struct {
	cl *client.Client
	// manifest: how long a done job waits for its manifest to be recorded
	// (0: not at all).
	manifest time.Duration
	show     func(protocol.Job) // called after each change
	stderr   io.Writer
	quiet    bool
}

// run follows the job until it ends (a done job: until its manifest is
// recorded, at most w.manifest) and returns it as the API reads it then.
// Dropped streams are resumed by the client; a minute of failed
// reconnections gives up.
func (w jobWatch) run(ctx context.Context, id protocol.JobID) (protocol.Job, error) {
	// Events after this point are not in the job read next, or repeat
	// what it holds: events carry absolute values, so a repeat is harmless.
	h, err := w.cl.Health(ctx)
	if err != nil {
		return protocol.Job{}, fmt.Errorf("reading the coordinator's applied index: %w", err)
	}
	since := h.AppliedIndex << 12 // event ids are raft index × 4096 (api.Event)
	d, err := w.cl.Job(ctx, id, false, 0, 0)
	if err != nil {
		return d.Job, fmt.Errorf("reading job %s: %w", id, err)
	}
	job := d.Job
	w.show(job)
	if w.ended(job) {
		return job, nil
	}
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var failingSince time.Time
	var manifestTimer *time.Timer
	defer func() {
		if manifestTimer != nil {
			manifestTimer.Stop()
		}
	}()
	for e, err := range w.cl.Events(sctx, api.EventFilter{Jobs: []protocol.JobID{id}}, &since) {
		if err != nil {
			if protocol.CodeOf(err) == protocol.CodeNotFound {
				return job, errNoEventStream
			}
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			if time.Since(failingSince) > time.Minute || permanentAPIError(err) {
				return job, fmt.Errorf("watching job %s: %w", id, err)
			}
			continue
		}
		failingSince = time.Time{}
		if job, err = w.apply(ctx, job, e); err != nil {
			return job, err
		}
		w.show(job)
		if w.ended(job) {
			return w.final(ctx, job)
		}
		if job.State == protocol.JobDone && w.manifest > 0 && manifestTimer == nil {
			manifestTimer = w.waitManifest(job, cancel)
		}
	}
	if context.Cause(sctx) == errManifestLate {
		return job, fmt.Errorf("job %s is done, but its manifest was not recorded within %v; the leader retries it (sanafarm status %s)",
			job.ID, w.manifest, job.ID)
	}
	return job, fmt.Errorf("stopped watching; job %s goes on (sanafarm status %s): %w", id, id, ctx.Err())
}

// errManifestLate ends the stream of a done job whose manifest is late.
var errManifestLate = errors.New("manifest late")

// waitManifest starts the timer that gives up on a done job's manifest.
func (w jobWatch) waitManifest(job protocol.Job, cancel context.CancelCauseFunc) *time.Timer {
	if !w.quiet {
		fmt.Fprintf(w.stderr, "job %s done; waiting for its manifest\n", job.ID)
	}
	return time.AfterFunc(w.manifest, func() { cancel(errManifestLate) })
}

// ended: terminal, and a done job's manifest recorded (when waited for).
func (w jobWatch) ended(j protocol.Job) bool {
	return j.State.Terminal() && (j.State != protocol.JobDone || w.manifest == 0 || !j.ManifestAt.IsZero())
}

// apply updates the job from one of its events (a reset reloads it).
func (w jobWatch) apply(ctx context.Context, j protocol.Job, e api.Event) (protocol.Job, error) {
	switch {
	case e.Type == api.EventReset:
		d, err := w.cl.Job(ctx, j.ID, false, 0, 0)
		return d.Job, err
	case e.Type == api.EventJob && e.State == api.EventJobDeleted:
		return j, fmt.Errorf("job %s was deleted", j.ID)
	case e.Type == api.EventJob:
		j.State, j.Paused, j.Error = protocol.JobState(e.State), e.Paused, e.Reason
		if e.Manifest && j.ManifestAt.IsZero() {
			j.ManifestAt = e.Time
		}
	}
	if e.Images > 0 {
		j.ImagesDone, j.Images = e.ImagesDone, e.Images
	}
	if e.Shards > 0 {
		j.ShardsDone, j.Shards = e.ShardsDone, e.Shards
	}
	return j, nil
}

// final reads the ended job from the API (results, times, errors).
func (w jobWatch) final(ctx context.Context, j protocol.Job) (protocol.Job, error) {
	d, err := w.cl.Job(ctx, j.ID, false, 0, 0)
	if err != nil {
		return j, nil // the stream's view is enough to report
	}
	return d.Job, nil
}

// permanentAPIError: retrying cannot help (the client ends the stream).
func permanentAPIError(err error) bool {
	c := protocol.CodeOf(err)
	return c == protocol.CodeUnauthorized || c == protocol.CodeBadRequest
}

// waitJobStream is submit --wait on the event stream: the same progress
// display and manifest wait as the poller (waitJob), which it falls back
// to on a coordinator without the stream.
func waitJobStream(ctx context.Context, cl *client.Client, job protocol.Job, f submitFlags, stderr io.Writer) (protocol.Job, error) {
	w := jobWatch{cl: cl, manifest: f.manifestTimeout, show: newJobProgress(job, f.quiet, stderr), stderr: stderr, quiet: f.quiet}
	final, err := w.run(ctx, job.ID)
	if errors.Is(err, errNoEventStream) {
		return waitJob(ctx, cl, job, f, stderr)
	}
	return final, err
}

// watchLines prints a line when a job's state changes and at most one a
// second while its images advance (status --watch).
func watchLines(out io.Writer) func(protocol.Job) {
	var last protocol.Job
	var at time.Time
	return func(j protocol.Job) {
		changed := j.State != last.State || j.Paused != last.Paused || !j.ManifestAt.Equal(last.ManifestAt)
		if !changed && (j.ImagesDone == last.ImagesDone || time.Since(at) < time.Second) {
			return
		}
		state := string(j.State)
		if j.Paused {
			state += " (paused)"
		}
		if j.State == protocol.JobDone && !j.ManifestAt.IsZero() {
			state += ", manifest written"
		}
		fmt.Fprintf(out, "%s  %s: %d/%d images, %d/%d shards\n", time.Now().Format(time.TimeOnly), state,
			j.ImagesDone, j.Images, j.ShardsDone, j.Shards)
		last, at = j, time.Now()
	}
}

// pollWatch is run's fallback on a coordinator without the event stream:
// the job is read every interval until it ends.
func (w jobWatch) pollWatch(ctx context.Context, id protocol.JobID, interval time.Duration) (protocol.Job, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		d, err := w.cl.Job(ctx, id, false, 0, 0)
		if err != nil {
			return d.Job, fmt.Errorf("reading job %s: %w", id, err)
		}
		w.show(d.Job)
		if w.ended(d.Job) {
			return d.Job, nil
		}
		select {
		case <-ctx.Done():
			return d.Job, fmt.Errorf("stopped watching; job %s goes on: %w", id, ctx.Err())
		case <-t.C:
		}
	}
}
