package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/internal/backoff"
	"github.com/sanafarm/sanafarm/protocol"
)

// EtcdAnnouncer announces a node under protocol.NodeKey(id), bound to an
// etcd lease (etcd's session pattern): grant, put, keep alive while
// draining the keepalive channel; a closed channel means the lease is lost
// (expired during an outage, or revoked), so it registers again with a
// fresh lease; on shutdown it revokes the lease under a TTL-bounded
// context, which deletes the key at once.
type EtcdAnnouncer struct {
	cli *clientv3.Client
	ttl time.Duration
	log *slog.Logger
}

var _ Announcer = (*EtcdAnnouncer)(nil)

// errLeaseLost ends a session whose keepalive channel closed.
var errLeaseLost = errors.New("node lease lost")

// NewEtcdAnnouncer returns an announcer with the given lease TTL (rounded
// up to whole seconds, at least 1 s).
func NewEtcdAnnouncer(cli *clientv3.Client, ttl time.Duration, log *slog.Logger) *EtcdAnnouncer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &EtcdAnnouncer{cli: cli, ttl: max(ttl, time.Second), log: log}
}

// Announce keeps the node registered until ctx ends, then revokes. A
// registration lost is a warning, and so is the first failure to register
// again; the rest of a run of failures (an etcd refusing writes for an
// hour) are logged at debug.
func (e *EtcdAnnouncer) Announce(ctx context.Context, info func() protocol.NodeInfo, changed <-chan struct{}) error {
	b := newBackoff(200*time.Millisecond, e.ttl)
	var streak backoff.Streak
	for {
		registered, err := e.session(ctx, info, changed)
		if ctx.Err() != nil {
			return nil
		}
		msg := "registering the node in etcd failed; trying again"
		if registered {
			b.Reset()
			msg = "node announcement interrupted; registering again"
		}
		e.log.Log(ctx, streak.Level(registered), msg, "node_id", info().ID, "err", err)
		if !b.Wait(ctx) {
			return nil
		}
	}
}

// session runs one lease: it returns nil when ctx ends (after revoking),
// errLeaseLost when the keepalive channel closes, or an etcd error;
// registered says whether the announcement was put.
func (e *EtcdAnnouncer) session(ctx context.Context, info func() protocol.NodeInfo, changed <-chan struct{}) (registered bool, err error) {
	gctx, cancel := context.WithTimeout(ctx, e.ttl)
	lease, err := e.cli.Grant(gctx, int64((e.ttl+time.Second-1)/time.Second))
	cancel()
	if err != nil {
		return false, fmt.Errorf("granting node lease: %w", err)
	}
	defer e.revoke(ctx, lease.ID)
	kctx, kcancel := context.WithCancel(ctx)
	defer kcancel()
	ka, err := e.cli.KeepAlive(kctx, lease.ID)
	if err != nil {
		return false, fmt.Errorf("keeping node lease alive: %w", err)
	}
	if err := e.put(ctx, lease.ID, info()); err != nil {
		return false, err
	}
	e.log.Info("node announced", "node_id", info().ID, "lease", fmt.Sprintf("%x", lease.ID), "ttl", e.ttl)
	var retry <-chan time.Time // a failed update, tried again
	failing := false
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case _, ok := <-ka:
			if !ok {
				return true, errLeaseLost
			}
		case <-changed:
			retry, failing = e.update(ctx, lease.ID, info(), failing)
		case <-retry:
			retry, failing = e.update(ctx, lease.ID, info(), failing)
		}
	}
}

// update puts a changed announcement. A failed put ends nothing: the lease
// is still kept alive and the announcement already registered stands, so
// it is tried again every TTL. Ending the session would revoke the lease
// and delete the key, and an etcd that refuses writes (its NOSPACE alarm:
// docs/architecture.md "etcd full") also refuses a new lease, so the
// leader would count a working node gone and requeue its shards.
func (e *EtcdAnnouncer) update(ctx context.Context, lease clientv3.LeaseID, info protocol.NodeInfo, failing bool) (retry <-chan time.Time, stillFailing bool) {
	err := e.put(ctx, lease, info)
	switch {
	case err == nil && failing:
		e.log.Info("node announcement updated again", "node_id", info.ID)
	case err != nil && !failing:
		e.log.Warn("updating the node announcement failed; the registered one stands, trying again every TTL",
			"node_id", info.ID, "ttl", e.ttl, "err", err)
	}
	if err != nil && ctx.Err() == nil {
		return time.After(e.ttl), true
	}
	return nil, false
}

func (e *EtcdAnnouncer) put(ctx context.Context, lease clientv3.LeaseID, info protocol.NodeInfo) error {
	js, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("encoding node info: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, e.ttl)
	defer cancel()
	if _, err := e.cli.Put(pctx, protocol.NodeKey(info.ID), string(js), clientv3.WithLease(lease)); err != nil {
		return fmt.Errorf("announcing node %s: %w", info.ID, err)
	}
	return nil
}

// revoke ends the lease (deleting the key) under a TTL-bounded context
// that outlives ctx's cancellation.
func (e *EtcdAnnouncer) revoke(ctx context.Context, id clientv3.LeaseID) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.ttl)
	defer cancel()
	if _, err := e.cli.Revoke(rctx, id); err != nil && ctx.Err() != nil {
		e.log.Warn("revoking node lease (the key expires with it)", "err", err)
	}
}
