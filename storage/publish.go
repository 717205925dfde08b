package storage

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
)

// PublishStore is what publishing a staged shard needs of a Store.
type PublishStore interface {
	Reader
	Copy(ctx context.Context, src, dst string) (ObjectInfo, error)
	List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error]
	Delete(ctx context.Context, key string) error
}

// publishWorkers bounds the copies one Publish runs at once.
const publishWorkers = 8

// Publish makes an accepted attempt's staged shard visible: it reads the
// staged stats (which must be of job and attempt), copies every object
// they list to its final key, checking size and SHA-256, and copies the
// stats last, so that a shard whose final stats exist is complete.
// Copies are idempotent: publishers of the same attempt (the node and
// the coordinator) may race. The staged objects stay (DiscardAttempt).
func Publish(ctx context.Context, s PublishStore, prefix, job string, shard, attempt int) (ShardStats, error) {
	stage := AttemptPrefix(prefix, job, shard, attempt)
	st, err := ReadStats(ctx, stagedReader{r: s, prefix: prefix, stage: stage}, prefix, shard)
	if err != nil {
		return st, fmt.Errorf("publishing shard %05d attempt %d: staged stats: %w", shard, attempt, err)
	}
	if st.Job != job || st.Attempt != attempt {
		return st, fmt.Errorf("publishing shard %05d attempt %d: %w: staged stats are of job %s attempt %d",
			shard, attempt, ErrShardIncomplete, st.Job, st.Attempt)
	}
	if err := copyAll(ctx, s, prefix, stage, st.Files); err != nil {
		return st, fmt.Errorf("publishing shard %05d attempt %d: %w", shard, attempt, err)
	}
	key := StatsKey(prefix, shard)
	if _, err := s.Copy(ctx, stageKey(prefix, stage, key), key); err != nil {
		return st, fmt.Errorf("publishing shard %05d attempt %d: %w", shard, attempt, err)
	}
	return st, nil
}

// copyAll copies the staged files to their final keys, a few at a time.
func copyAll(ctx context.Context, s PublishStore, prefix, stage string, files []ObjectDigest) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	next := make(chan ObjectDigest)
	for range min(publishWorkers, len(files)) {
		wg.Go(func() {
			for f := range next {
				if err := copyOne(ctx, s, stageKey(prefix, stage, f.Key), f); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					cancel()
				}
			}
		})
	}
	for _, f := range files {
		select {
		case next <- f:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

func copyOne(ctx context.Context, s PublishStore, src string, f ObjectDigest) error {
	info, err := s.Copy(ctx, src, f.Key)
	if err != nil {
		return err
	}
	if info.Size != f.Size || (info.SHA256 != "" && !strings.EqualFold(info.SHA256, f.SHA256)) {
		return fmt.Errorf("%w: %s is %d bytes with sha256 %.12s, stats say %d and %.12s", ErrShardIncomplete,
			src, info.Size, info.SHA256, f.Size, f.SHA256)
	}
	return nil
}

// EnsurePublished publishes the accepted attempt of a shard unless its
// final stats already are that attempt's; published says whether it had
// to. The coordinator calls it for every shard before a job's manifest,
// covering a node that died between the acceptance and its own Publish.
func EnsurePublished(ctx context.Context, s PublishStore, prefix, job string, shard, attempt int) (published bool, err error) {
	st, err := ReadStats(ctx, s, prefix, shard)
	switch {
	case err == nil && st.Job == job && st.Attempt == attempt:
		return false, nil
	case err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrShardIncomplete):
		return false, err
	}
	if _, err := Publish(ctx, s, prefix, job, shard, attempt); err != nil {
		// The node may have published and discarded its staging meanwhile.
		if st, serr := ReadStats(ctx, s, prefix, shard); serr == nil && st.Job == job && st.Attempt == attempt {
			return false, nil
		}
		return true, err
	}
	return true, nil
}

// DiscardAttempt deletes an attempt's staged objects (after its Publish,
// or when the coordinator refused it).
func DiscardAttempt(ctx context.Context, s Remover, prefix, job string, shard, attempt int) error {
	_, err := DeletePrefix(ctx, s, AttemptPrefix(prefix, job, shard, attempt)+"/")
	return err
}

// Settled reports whether a shard's outcome in job is visible: its final
// stats are of job, so the attempt the coordinator accepted has been
// published — this attempt, or another one, which means this one never
// will be. Either way its staging may go. A node that sent a completion
// but got no answer (cut off) uses it to clean up after itself.
func Settled(ctx context.Context, s Reader, prefix, job string, shard int) (bool, error) {
	st, err := ReadStats(ctx, s, prefix, shard)
	switch {
	case err == nil:
		return st.Job == job, nil
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrShardIncomplete):
		return false, nil
	}
	return false, err
}
