package node

import (
	"context"
	"fmt"

	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

var _ Publisher = (*PipelineExecutor)(nil)

// stagedKey names an attempt this executor has staged objects for.
type stagedKey struct {
	protocol.TaskKey
	attempt int
}

// stage is the shard writers' store: every key goes under the attempt's
// staging folder, so a node that lost its lease (frozen, cut off from
// NATS but not from storage) never writes a key readers see. The attempt
// is remembered until Publish or Discard.
func (e *PipelineExecutor) stage(store ObjectStore, a protocol.Assignment) storage.Putter {
	e.staged.Store(stagedKey{a.Task.TaskKey, a.Task.Attempt}, true)
	return storage.Stage(store, "", storage.AttemptPrefix("", string(a.Task.Job), a.Task.Shard, a.Task.Attempt))
}

// stagePatient is stage, with uploads kept through a store outage of up
// to StorePatience (patient.go).
func (e *PipelineExecutor) stagePatient(store ObjectStore, a protocol.Assignment) storage.Putter {
	p, _ := e.patienceFor(a)
	return patientPutter{e.stage(store, a), p}
}

// Publish copies an accepted attempt's staged objects to their final
// keys (the stats last) and deletes the staging. A reused shard staged
// nothing.
func (e *PipelineExecutor) Publish(ctx context.Context, a protocol.Assignment, info protocol.ShardInfo) error {
	if _, ok := e.staged.LoadAndDelete(stagedKey{a.Task.TaskKey, a.Task.Attempt}); !ok || info.Reused {
		return nil
	}
	store, err := e.cfg.OpenStore(ctx, a.Spec.Output.URL)
	if err != nil {
		return fmt.Errorf("opening output %s: %w", a.Spec.Output.URL, err)
	}
	defer store.Close()
	job, shard, attempt := string(a.Task.Job), a.Task.Shard, a.Task.Attempt
	// EnsurePublished, not Publish: the leader may be publishing the same
	// attempt for the job's manifest (and deleting the staging) meanwhile.
	if _, err := storage.EnsurePublished(ctx, store, "", job, shard, attempt); err != nil {
		return err
	}
	if err := storage.DiscardAttempt(ctx, store, "", job, shard, attempt); err != nil {
		return fmt.Errorf("deleting the published staging of shard %05d attempt %d: %w", shard, attempt, err)
	}
	return nil
}

// Discard deletes the staged objects of an attempt that will never be
// published (refused as stale, failed, handed back).
func (e *PipelineExecutor) Discard(ctx context.Context, a protocol.Assignment) error {
	if _, ok := e.staged.LoadAndDelete(stagedKey{a.Task.TaskKey, a.Task.Attempt}); !ok {
		return nil // nothing written (failed early, or reused)
	}
	store, err := e.cfg.OpenStore(ctx, a.Spec.Output.URL)
	if err != nil {
		return fmt.Errorf("opening output %s: %w", a.Spec.Output.URL, err)
	}
	defer store.Close()
	return storage.DiscardAttempt(ctx, store, "", string(a.Task.Job), a.Task.Shard, a.Task.Attempt)
}

// Settled reports whether the shard's outcome is visible in its output
// (storage.Settled): then the attempt's completion no longer matters.
func (e *PipelineExecutor) Settled(ctx context.Context, a protocol.Assignment) (bool, error) {
	store, err := e.cfg.OpenStore(ctx, a.Spec.Output.URL)
	if err != nil {
		return false, fmt.Errorf("opening output %s: %w", a.Spec.Output.URL, err)
	}
	defer store.Close()
	return storage.Settled(ctx, store, "", string(a.Task.Job), a.Task.Shard)
}

// Settle deletes an attempt's staging once the shard's outcome is
// visible (storage.Settled): called when its completion got no answer,
// so the agent cannot tell whether the leader accepted it. Until then
// the staging stays: the leader may still publish from it.
func (e *PipelineExecutor) Settle(ctx context.Context, a protocol.Assignment) error {
	k := stagedKey{a.Task.TaskKey, a.Task.Attempt}
	if _, ok := e.staged.Load(k); !ok {
		return nil
	}
	store, err := e.cfg.OpenStore(ctx, a.Spec.Output.URL)
	if err != nil {
		return fmt.Errorf("opening output %s: %w", a.Spec.Output.URL, err)
	}
	defer store.Close()
	settled, err := storage.Settled(ctx, store, "", string(a.Task.Job), a.Task.Shard)
	if err != nil || !settled {
		return err
	}
	e.staged.Delete(k)
	return storage.DiscardAttempt(ctx, store, "", string(a.Task.Job), a.Task.Shard, a.Task.Attempt)
}
