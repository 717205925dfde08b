package coordinator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// A node stages each shard attempt under <output>/_attempts/<job>/<shard>/
// <attempt>/ and publishes it (copies it to the final keys) only after the
// leader accepted its completion, so a fenced node — frozen past its lease,
// cut off from NATS but not from storage — can never overwrite the keys
// readers see. Before a job's manifest the leader checks every done
// shard's final stats against the attempt the state accepted and
// publishes from that attempt's staging itself where the node died
// between the acceptance and its own publish; then it deletes the job's
// staging folder (refused attempts' leftovers).

// taskSource is what publishing needs of the state store.
type taskSource interface {
	TasksByJob(id protocol.JobID, from, limit int) []protocol.Task
}

// Publishing a job's shards: tasks read from the state per page, shards
// checked at once.
const (
	publishPage    = 1024
	publishWorkers = 8
)

// manifestOf is the leader's manifest writer: writeJobManifest with the
// accepted attempts of the job's shards from the state store.
func (s *Server) manifestOf(ctx context.Context, j protocol.Job) (storage.ManifestInfo, error) {
	return writeJobManifest(ctx, j, s.store)
}

// writeJobManifest writes a job's manifest unless one was written after
// the job was done (a rerun into the same output rewrites it; a new
// leader does not). With tasks, every done shard is first published from
// its accepted attempt (publishJob).
func writeJobManifest(ctx context.Context, j protocol.Job, tasks taskSource) (storage.ManifestInfo, error) {
	url := j.Spec.Output.URL
	if p, err := storage.LocalPath(url); err == nil {
		if _, err := os.Stat(p); err != nil { // never create an output folder here
			if unfinished(j) && errors.Is(err, os.ErrNotExist) {
				return storage.ManifestInfo{}, nil // ended before writing anything
			}
			return storage.ManifestInfo{}, fmt.Errorf("output %s: %w", url, err)
		}
	}
	st, err := storage.Open(ctx, url)
	if err != nil {
		return storage.ManifestInfo{}, fmt.Errorf("opening output %s: %w", url, err)
	}
	defer st.Close()
	if done, err := storage.ManifestDone(ctx, st, "", j.UpdatedAt.Add(-time.Second)); err != nil || done {
		return storage.ManifestInfo{}, err
	}
	if tasks != nil {
		if err := publishJob(ctx, st, j, tasks); err != nil {
			return storage.ManifestInfo{}, err
		}
	}
	return storage.WriteManifestOf(ctx, st, "", j.Shards, manifestOptions(j, tasks))
}

// unfinished: the job ended failed or cancelled.
func unfinished(j protocol.Job) bool {
	return j.State == protocol.JobFailed || j.State == protocol.JobCancelled
}

// manifestOptions describe j for its manifest: for a failed or cancelled
// job, every shard not done is listed sample by sample with the job's
// state as status (a shard that failed its attempts with its own last
// reason). Without tasks every shard must have stats.
func manifestOptions(j protocol.Job, tasks taskSource) storage.ManifestOptions {
	opts := storage.ManifestOptions{Job: string(j.ID), Model: j.Spec.Model}
	if !unfinished(j) || tasks == nil {
		return opts
	}
	reason := cmp.Or(j.Error, "job "+string(j.State))
	opts.Unfinished = func(shard int) (storage.ShardOutcome, bool) {
		ts := tasks.TasksByJob(j.ID, shard, 1)
		if len(ts) == 0 || ts[0].State == protocol.TaskDone {
			return storage.ShardOutcome{}, false
		}
		o := storage.ShardOutcome{Start: ts[0].Start, End: ts[0].End, Status: string(j.State), Reason: reason}
		if t := ts[0]; t.State == protocol.TaskFailed && len(t.Failures) > 0 {
			o.Status, o.Reason = storage.StatusFailed, t.Failures[len(t.Failures)-1].Reason
		}
		return o, true
	}
	return opts
}

// publishJob makes sure every done shard's final objects are those of the
// attempt the leader accepted (storage.EnsurePublished; a shard reused
// from an earlier run staged nothing), then deletes the job's staging.
func publishJob(ctx context.Context, st storage.Store, j protocol.Job, tasks taskSource) error {
	for from := 0; from < j.Shards; from += publishPage {
		page := tasks.TasksByJob(j.ID, from, publishPage)
		if len(page) == 0 {
			break
		}
		if err := publishPageOf(ctx, st, j, page); err != nil {
			return err
		}
	}
	if _, err := storage.DeletePrefix(ctx, st, storage.JobAttempts("", string(j.ID))+"/"); err != nil {
		return fmt.Errorf("deleting the staging of job %s: %w", j.ID, err)
	}
	return nil
}

// publishPageOf checks a page of tasks, publishWorkers at a time; it
// returns the first error.
func publishPageOf(ctx context.Context, st storage.Store, j protocol.Job, page []protocol.Task) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan protocol.Task)
	var wg sync.WaitGroup
	for range publishWorkers {
		wg.Go(func() {
			for t := range next {
				if err := publishTask(ctx, st, j, t); err != nil {
					cancel(err)
				}
			}
		})
	}
	for _, t := range page {
		select {
		case next <- t:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

func publishTask(ctx context.Context, st storage.Store, j protocol.Job, t protocol.Task) error {
	if t.State != protocol.TaskDone || t.Result == nil || t.Result.Reused {
		return nil
	}
	if _, err := storage.EnsurePublished(ctx, st, "", string(j.ID), t.Shard, t.Attempt); err != nil {
		return fmt.Errorf("shard %05d of job %s (accepted attempt %d): %w", t.Shard, j.ID, t.Attempt, err)
	}
	return nil
}
