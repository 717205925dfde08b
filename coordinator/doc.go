// Package coordinator is the farm's control plane: a Raft-replicated state
// store of jobs and shard tasks (coordinator/state), the leader's node
// traffic over NATS, node membership from etcd, and the HTTP API
// (bodies in coordinator/api, Go client in coordinator/client).
//
// Use New(Config) then Run(ctx). New binds the Raft and HTTP listeners (so
// RaftAddr and HTTPAddr are known before any voter bootstraps); Run starts
// Raft, the API, membership and the leader loop, and returns once ctx is
// cancelled and all of it has stopped (Run must be called once New
// succeeds, or the listeners leak).
//
// Job flow. POST /v1/jobs validates the spec and commits one JobSubmit; the
// FSM records the job and its shard count only: tasks are implied by the
// spec (JobSpec.SampleRange) and materialized when leased, so a job of
// millions of prompts (a file URL + row count) submits as one small entry.
// Nodes send LeaseRequests on protocol.SubjectLease; the leader's
// scheduler (coordinator/scheduler) picks tasks and one TaskAssign commits
// them with attempt = previous + 1. Progress reports extend a lease; the
// leader buffers them and commits one TaskProgress per ProgressInterval.
// Completions commit TaskComplete (or TaskFail on a reported error). Every
// report carries its attempt: the FSM and the leader refuse a report of an
// attempt that is not current with protocol.CodeStaleAttempt (fencing), and
// answer a repeated completion of the attempt that is already done with
// success (its first reply may have been lost).
//
// Liveness. The leader requeues a task (TaskFail, attempt kept; the next
// lease is attempt+1) when its lease deadline passes, or when the node's
// etcd key under protocol.NodePrefix is deleted (lease expired or revoked).
// A new leader grants every lease one LeaseTTL from its election before
// expiring it, since buffered progress died with the old leader.
//
// Leadership. Only the leader subscribes to the NATS subjects: after
// raft.Barrier it subscribes and starts the progress batcher and
// lease-expiry scanner; on losing leadership it unsubscribes and stops
// them. Writes from the API on a follower are proxied to the leader
// (httputil.ReverseProxy) at the API URL the leader published in etcd under
// protocol.CoordinatorKey(id), once that URL is verified to be on the
// Raft host of the current Raft leader (api_forward.go); a proxied request
// is marked and never proxied twice (503 not_leader: the client retries).
// Reads are local.
package coordinator
