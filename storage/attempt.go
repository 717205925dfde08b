package storage

import (
	"context"
	"fmt"
	"io"
	"iter"
	"path"
	"strings"
)

// AttemptsDir is the folder of an output where a node stages each shard
// attempt's objects (AttemptPrefix) until the coordinator has accepted
// the attempt; only then are they published under their final keys
// (Publish). A node that lost its lease but not its storage can thus
// only ever write under its own attempt's folder, never the keys readers
// see.
const AttemptsDir = "_attempts"

// JobAttempts is "<prefix>/_attempts/<job>", the staging folder of a job.
func JobAttempts(prefix, job string) string {
	return path.Join(prefix, AttemptsDir, keyElem(job))
}

// AttemptPrefix is "<prefix>/_attempts/<job>/<shard:05d>/<attempt>": the
// object with final key k is staged at AttemptPrefix + "/" + k (k relative
// to prefix).
func AttemptPrefix(prefix, job string, shard, attempt int) string {
	return path.Join(JobAttempts(prefix, job), fmt.Sprintf("%05d", shard), fmt.Sprint(attempt))
}

// keyElem makes a job id one key element: ids are letters, digits, "_",
// "." and "-", so only "." and ".." need escaping ("%2E", which no id
// contains).
func keyElem(s string) string {
	if strings.Trim(s, ".") == "" {
		return strings.ReplaceAll(s, ".", "%2E")
	}
	return strings.ReplaceAll(s, "/", "%2F")
}

// stageKey is where the object of final key k is staged.
func stageKey(prefix, stage, k string) string {
	if prefix != "" {
		k = strings.TrimPrefix(k, prefix+"/")
	}
	return stage + "/" + k
}

// Stage returns a Putter that writes each key under the attempt folder
// stage (AttemptPrefix) instead: a shard writer over it records the final
// keys in the stats and stores nothing under them.
func Stage(p Putter, prefix, stage string) Putter {
	return &stager{p: p, prefix: prefix, stage: stage}
}

type stager struct {
	p             Putter
	prefix, stage string
}

func (s *stager) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	return s.p.Put(ctx, stageKey(s.prefix, s.stage, key), r)
}

// stagedReader reads final keys from an attempt folder.
type stagedReader struct {
	r             Reader
	prefix, stage string
}

func (s stagedReader) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return s.r.Get(ctx, stageKey(s.prefix, s.stage, key))
}

func (s stagedReader) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	return s.r.Stat(ctx, stageKey(s.prefix, s.stage, key))
}

// Remover is what DeletePrefix needs of a Store.
type Remover interface {
	List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error]
	Delete(ctx context.Context, key string) error
}

// UploadAborter is implemented by stores whose interrupted uploads stay
// behind unlisted (S3 multipart uploads).
type UploadAborter interface {
	AbortUploads(ctx context.Context, prefix string) (int, error)
}

// DeletePrefix deletes every object whose key starts with prefix and
// returns how many it deleted (a local store also removes the folders
// left empty); on a store with open uploads under prefix (an
// UploadAborter) it aborts them too.
func DeletePrefix(ctx context.Context, s Remover, prefix string) (int, error) {
	var keys []string
	for o, err := range s.List(ctx, prefix) {
		if err != nil {
			return 0, err
		}
		keys = append(keys, o.Key)
	}
	for i, k := range keys {
		if err := s.Delete(ctx, k); err != nil {
			return i, err
		}
	}
	if a, ok := s.(UploadAborter); ok {
		if _, err := a.AbortUploads(ctx, prefix); err != nil {
			return len(keys), err
		}
	}
	return len(keys), nil
}
