package node

import (
	"context"
	"io"
	"iter"

	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// Executor runs one leased task: it produces the shard's samples, writes
// them, and calls progress with the number of images done so far. It
// returns when the shard is written or ctx ends (with ctx's error).
type Executor interface {
	Execute(ctx context.Context, a protocol.Assignment, progress func(done int)) (protocol.ShardInfo, error)
}

// ModelLister is implemented by executors that keep models resident; the
// agent announces the list (NodeInfo.Models).
type ModelLister interface {
	Models() []string
}

// Announcer keeps the node registered while ctx lives: it publishes
// info() and publishes it again whenever changed fires; when ctx ends it
// deregisters and returns nil. Lease loss and registry outages are
// handled inside (re-register with backoff), never returned.
type Announcer interface {
	Announce(ctx context.Context, info func() protocol.NodeInfo, changed <-chan struct{}) error
}

// GPUInspector lists the machine's GPUs (empty on a CPU-only machine).
type GPUInspector interface {
	GPUs(ctx context.Context) ([]protocol.GPUInfo, error)
}

// ObjectStore is what the executor needs of an output store: it writes
// shards and reads back their stats and objects to resume a job; it
// publishes an accepted attempt's staged objects (Copy) and deletes a
// finished or refused attempt's (List, Delete).
type ObjectStore interface {
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	Stat(ctx context.Context, key string) (storage.ObjectInfo, error)
	Copy(ctx context.Context, src, dst string) (storage.ObjectInfo, error)
	List(ctx context.Context, prefix string) iter.Seq2[storage.ObjectInfo, error]
	Delete(ctx context.Context, key string) error
	Close() error
}

var _ ObjectStore = (*storage.Local)(nil)

// StoreOpener opens the store an output URL names.
type StoreOpener func(ctx context.Context, url string) (ObjectStore, error)

// PromptSource reads a task's prompt rows [start, end).
type PromptSource interface {
	ReadRows(ctx context.Context, start, end int64) ([]storage.PromptRow, error)
}

// PromptOpener opens a job's prompts.
type PromptOpener func(ctx context.Context, src protocol.PromptSource) (PromptSource, error)
