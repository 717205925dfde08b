package protocol

import "strings"

// NATS subjects of the control plane. Only the leader subscribes.
const (
	SubjectLease    = "sanafarm.ctl.lease"
	SubjectProgress = "sanafarm.ctl.progress"
	SubjectComplete = "sanafarm.ctl.complete"
)

// etcd key layout.
const (
	// NodePrefix holds one key per live node, bound to its lease.
	NodePrefix = "/sanafarm/nodes/"
	// CoordinatorPrefix holds each coordinator's API address.
	CoordinatorPrefix = "/sanafarm/coordinators/"
)

// NodeKey is the etcd key of a node's announcement.
func NodeKey(id string) string { return NodePrefix + id }

// NodeIDFromKey extracts the node id from a NodeKey.
func NodeIDFromKey(key string) (string, bool) {
	id, ok := strings.CutPrefix(key, NodePrefix)
	return id, ok && id != ""
}

// CoordinatorKey is the etcd key of a coordinator's API address.
func CoordinatorKey(id string) string { return CoordinatorPrefix + id }
