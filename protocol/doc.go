// Package protocol holds the wire vocabulary of the farm, shared by the
// coordinator, the nodes and the CLI: jobs, tasks (one output shard each),
// node and GPU descriptions, the NATS request/reply messages, the Raft
// command encoding, the NATS subjects and etcd keys, error codes, and
// validation with field-level errors. It imports nothing of ours.
package protocol
