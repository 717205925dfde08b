package protocol

import (
	"slices"
	"strconv"
	"strings"
)

// NATS subjects of the control plane. Only the leader subscribes. A node
// sends on its own subject under each (NodeSubject); the bare subjects are
// those of earlier releases, still served for nodes on the shared node
// user (a per-node user may not publish them).
const (
	SubjectLease    = "sanafarm.ctl.lease"
	SubjectProgress = "sanafarm.ctl.progress"
	SubjectComplete = "sanafarm.ctl.complete"
)

// ControlSubjects are the bases of NodeSubject.
var ControlSubjects = [...]string{SubjectLease, SubjectProgress, SubjectComplete}

// NodeSubject is node id's subject under a control subject base:
// base + "." + SubjectToken(id). A per-node NATS user may publish only its
// own (NodePermissions), and the leader refuses a message whose claimed
// node id is not the subject's, so with per-node users a node cannot
// lease, report or complete in another node's name.
func NodeSubject(base, id string) string { return base + "." + SubjectToken(id) }

// CheckSender checks that a message received on subject (base, or a
// NodeSubject under it) may speak for node id: on a node's own subject the
// token must be id's. The bare base says nothing about the sender (the
// shared node user, older nodes).
func CheckSender(subject, base, id string) error {
	tok, ok := strings.CutPrefix(subject, base+".")
	if !ok || tok == SubjectToken(id) {
		return nil
	}
	return Errorf(CodeBadRequest, "a message on %s may not speak for node %q", subject, id)
}

// etcd key layout.
const (
	// NodePrefix holds one key per live node, bound to its lease.
	NodePrefix = "/sanafarm/nodes/"
	// CoordinatorPrefix holds each coordinator's API address.
	CoordinatorPrefix = "/sanafarm/coordinators/"
	// FeaturePrefix holds each coordinator's features (FeatureKey).
	FeaturePrefix = "/sanafarm/features/"
	// NATSLinkPrefix holds one key per coordinator connected to NATS
	// (NATSLinkKey).
	NATSLinkPrefix = "/sanafarm/natslink/"
	// DataDiskPrefix holds each coordinator's data disk free space
	// (DataDiskKey).
	DataDiskPrefix = "/sanafarm/datadisk/"
)

// DataDiskKey holds the free bytes of coordinator id's data disk, in
// decimal, bound to its registration lease like CoordinatorKey: the
// leader refuses submits that fewer than a majority of voters have room
// to store (coordinator/datadisk_voters.go).
func DataDiskKey(id string) string { return DataDiskPrefix + id }

// MaxDataDiskValue bounds the value read from a DataDiskKey.
const MaxDataDiskValue = 32

// ParseDataDisk reads a DataDiskKey value: a decimal byte count, at most
// MaxDataDiskValue bytes, not negative.
func ParseDataDisk(value []byte) (int64, bool) {
	if len(value) == 0 || len(value) > MaxDataDiskValue {
		return 0, false
	}
	n, err := strconv.ParseInt(string(value), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// NATSLinkKey is present, under a short lease of its own, while
// coordinator id is connected to NATS: a leader cut off from NATS hands
// its leadership to one of these (coordinator/handover.go).
func NATSLinkKey(id string) string { return NATSLinkPrefix + id }

// Features a coordinator announces under FeatureKey (comma-separated): the
// Raft commands it can apply that older servers cannot. The leader sends
// such a command only while every server of the Raft configuration
// announces its feature (docs/architecture.md, "Feature gates").
const (
	FeatureRequeue   = "task-requeue"    // CmdTaskRequeue
	FeatureJobBytes  = "job-spec-bytes"  // CmdJobSubmitBounded
	FeatureNodeFault = "task-node-fault" // CmdTaskNodeFault
)

// Features are the features this release announces.
var Features = []string{FeatureRequeue, FeatureJobBytes, FeatureNodeFault}

// FeatureKey is the etcd key of coordinator id's features, bound to its
// registration lease like CoordinatorKey.
func FeatureKey(id string) string { return FeaturePrefix + id }

// MaxFeatureValue bounds the value read from a FeatureKey.
const MaxFeatureValue = 1024

// HasFeature reports whether a FeatureKey value lists feature.
func HasFeature(value []byte, feature string) bool {
	if len(value) > MaxFeatureValue {
		return false
	}
	for f := range strings.SplitSeq(string(value), ",") {
		if strings.TrimSpace(f) == feature {
			return true
		}
	}
	return false
}

// NodeKey is the etcd key of a node's announcement.
func NodeKey(id string) string { return NodePrefix + id }

// NodeIDFromKey extracts the node id from a NodeKey.
func NodeIDFromKey(key string) (string, bool) {
	id, ok := strings.CutPrefix(key, NodePrefix)
	return id, ok && id != ""
}

// CoordinatorKey is the etcd key of a coordinator's API address.
func CoordinatorKey(id string) string { return CoordinatorPrefix + id }

// KnownFeature reports whether this release knows feature: a snapshot or
// log that uses one it does not know was written by a newer release.
func KnownFeature(feature string) bool { return slices.Contains(Features, feature) }
