// Package node is the farm's worker agent: it announces the machine in
// etcd under a lease (GPU inventory from NVML in cgo builds, a CPU node
// otherwise), pulls tasks from the coordinator leader over NATS
// request/reply when a slot is free, runs each through an Executor (the
// real one, PipelineExecutor, keeps Sana pipelines resident and writes
// shards through package storage), reports progress (which extends the
// task lease) and completion with the attempt number, and drains on
// context cancellation: running shards get a grace period to finish, then
// are handed back with a "draining" failure so they are requeued.
//
// It never imports coordinator (docs/architecture.md §3).
package node
