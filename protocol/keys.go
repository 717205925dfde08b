package protocol

import "strings"

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
