package node

import (
	"errors"

	"github.com/sanafarm/sanafarm/internal/diskroom"
	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/hub"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// ending is how an attempt ended, as complete reports it.
type ending struct {
	info      *protocol.ShardInfo // the result; nil when the attempt failed
	reason    string              // why it failed
	nodeFault bool                // the failure is the node's own (ownFault)
}

// failed is the ending of a failed attempt that is not the node's own.
func failed(reason string) ending { return ending{reason: reason} }

// ownFault reports whether a task's error is the node's own doing rather
// than the shard's: a download its --max-model-bytes or its disk's free
// space refuses (diskroom), a write to its model cache that fails
// (hub.ErrDisk), a model or input it does not hold while its operator
// keeps it offline (hub.ErrOffline: a node on the network may fetch it),
// a spool file on its temporary disk that cannot be written
// (storage.ErrSpool), a location its allow-lists do not cover
// (protocol.ErrNotAllowed), GPU memory that ran out
// (kernels.ErrOutOfMemory: other processes on a shared GPU; a job too
// large for every node ends anyway, its nodes all blocklisted for it), a
// GPU whose context an error broke (kernels.ErrDeviceFault: the node then
// stops, task.go), a cached model whose files no longer match their
// digests (ErrCacheCorrupt: removed, fetched again by the next shard).
// Another node may run the shard, so the leader strikes
// this node without counting the attempt against the shard
// (protocol.CmdTaskNodeFault). Anything else — a bad prompt file, a
// model that does not load, a store that refuses writes — may be the
// job's, and counts as before.
func ownFault(err error) bool {
	return errors.Is(err, diskroom.ErrRefused) || errors.Is(err, hub.ErrDisk) || errors.Is(err, hub.ErrOffline) ||
		errors.Is(err, storage.ErrSpool) || errors.Is(err, protocol.ErrNotAllowed) ||
		errors.Is(err, kernels.ErrOutOfMemory) || errors.Is(err, kernels.ErrDeviceFault) || errors.Is(err, ErrCacheCorrupt)
}
