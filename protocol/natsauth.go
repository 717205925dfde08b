package protocol

import (
	"fmt"
	"strings"
)

// NATS subjects by role. The deploy's nats-server users (written by
// `sanafarm nats-auth`, internal/natsusers) and `sanafarm dev`'s
// embedded server give each role exactly these permissions
// (docs/deploy.md, Security):
//
//   - coordinator: subscribes to the control subjects (SubjectLease,
//     SubjectProgress, SubjectComplete, and every node's NodeSubject
//     under each) and to every node's telemetry
//     (SubjectTelemetryPrefix), and publishes only replies (under
//     "_INBOX.>").
//   - node: publishes requests on its own control subjects
//     (NodeSubject(base, id); the shared node user any node's and the
//     bare ones of older nodes; its replies come to NodeInbox(id)), its
//     telemetry only on TelemetrySubject(id) and
//     gang traffic only under ShardPublish(id);
//     subscribes to its inbox and to gang traffic (a user per node: only
//     to the gang traffic addressed to it, ShardSubscribe(id)). It cannot
//     publish a reply, so it cannot answer for the coordinator, and with a
//     user per node it cannot lease, report or send gang traffic as
//     another node, nor read another node's replies or gang traffic.

// ShardSubjectPrefix begins every subject of parallel-DiT (gang) traffic:
// ShardSubjectPrefix + SubjectToken(sender) + "." + group + "." + to, where
// to is SubjectToken(recipient) + ".d" or ".hb" (Assignment.Addressed) or,
// between nodes of earlier releases, "r<rank>", "all" or "hb".
const ShardSubjectPrefix = "sanafarm.shard."

// InboxPrefix begins every reply subject.
const InboxPrefix = "_INBOX"

// SubjectToken makes id one NATS subject token, injectively: characters
// outside [A-Za-z0-9_-] (a '.', '*', '>', space, '%', …) become %XX, so
// "w0.example" is "w0%2Eexample".
func SubjectToken(id string) string {
	var b strings.Builder
	for i := range len(id) {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// ShardPublish is the wildcard of the gang subjects node id may publish.
func ShardPublish(id string) string { return ShardSubjectPrefix + SubjectToken(id) + ".>" }

// ShardSubscribe is the wildcard of the gang subjects addressed to node id
// (from any sender, in any group).
func ShardSubscribe(id string) string { return ShardSubjectPrefix + "*.*." + SubjectToken(id) + ".>" }

// NodeInbox is the reply-subject prefix of node id's requests
// (nats.CustomInboxPrefix); a per-node user subscribes only below it.
func NodeInbox(id string) string { return InboxPrefix + "." + SubjectToken(id) }

// NATSPermissions are the subjects one role may publish and subscribe to.
type NATSPermissions struct {
	Publish, Subscribe []string
}

// CoordinatorPermissions are the coordinator role's subjects.
func CoordinatorPermissions() NATSPermissions {
	return NATSPermissions{
		Publish:   []string{InboxPrefix + ".>"},
		Subscribe: append(controlSubjects("*", true), SubjectTelemetryPrefix+">"),
	}
}

// controlSubjects lists NodeSubject(base, token) of every control subject
// (token may be the wildcard "*"), and with bare the bases themselves.
func controlSubjects(token string, bare bool) []string {
	var out []string
	for _, base := range ControlSubjects {
		if bare {
			out = append(out, base)
		}
		out = append(out, base+"."+token)
	}
	return out
}

// NodePermissions are node id's subjects; id "" gives the shared node
// user's (any node's inbox and gang subjects: no isolation between the
// nodes that share it).
func NodePermissions(id string) NATSPermissions {
	pub, sub, inbox, telemetry, control := ShardSubjectPrefix+">", ShardSubjectPrefix+">", InboxPrefix+".>", SubjectTelemetryPrefix+"*", controlSubjects("*", true)
	if id != "" {
		pub, sub, inbox, telemetry, control = ShardPublish(id), ShardSubscribe(id), NodeInbox(id)+".>", TelemetrySubject(id), controlSubjects(SubjectToken(id), false)
	}
	return NATSPermissions{
		Publish:   append(control, telemetry, pub),
		Subscribe: []string{inbox, sub},
	}
}
