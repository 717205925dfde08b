package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
)

// nodeCmdFlags are the options of `sanafarm node`.
type nodeCmdFlags struct {
	node              nodeFlags
	natsURL, etcd     string
	logLevel, devices string
	allow             allowFlags
	etcdTLS           etcdTLSFlags
}

func newNodeCmd() *cobra.Command {
	var f nodeCmdFlags
	cmd := &cobra.Command{
		Use:   "node --nats URL --etcd ENDPOINTS [flags]",
		Short: "Run a node agent: pull shards from the coordinators and generate them",
		Long: `node runs the agent of one machine: it announces itself in etcd under a lease
(backend, GPUs, slots, resident models), asks the leader for shards over NATS
when a slot is free, runs the Sana pipeline, writes each shard to the job's
output and reports its completion. On SIGINT/SIGTERM it drains: running shards
get --drain-timeout to finish, then they are handed back.

Models: presets are downloaded into the Hugging Face cache (or read from it
offline); sana-tiny is written locally, so a CPU node works without a network.

With --backend cuda the node runs one slot per device in --devices; with the
cpu backend it runs --slots shards at a time (default 1, using all cores).

A job may read its prompt file only under an --allow-read root and write its
output only under an --allow-write root (directories, file:///dir, s3://bucket
or s3://bucket/prefix; symlinks are resolved, ".." and relative paths are
refused). Without them the node refuses every job.

Example:
  sanafarm node --id gpu-box-1 --backend cuda --devices 0,1 \
    --nats nats://10.0.0.9:4222 --etcd 10.0.0.9:2379 \
    --allow-read s3://datasets/prompts --allow-write s3://datasets/images`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runNode(cmd.Context(), f, cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.node.id, "id", "", "node id (default: the hostname)")
	fl.StringVar(&f.natsURL, "nats", "", "NATS URL (lease, progress and completion requests)"+natsFlagHelp)
	fl.StringVar(&f.etcd, "etcd", "127.0.0.1:2379", "etcd endpoints, comma-separated (the node's announcement)")
	fl.StringVar(&f.devices, "devices", "0", "CUDA device ordinals, comma-separated: one slot each (with --backend cuda)")
	fl.IntVar(&f.node.slots, "slots", 1, "shards run at once with the cpu backend")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.node.register(fl, 60*time.Second, 2*time.Second)
	f.allow.register(fl, "default: none, so every job is refused")
	f.etcdTLS.register(fl)
	return cmd
}

func parseDevices(s string) ([]int, error) {
	var out []int
	for _, p := range splitList(s) {
		var d int
		if _, err := fmt.Sscanf(p, "%d", &d); err != nil || d < 0 {
			return nil, fmt.Errorf("--devices %q: want device ordinals like 0,1", s)
		}
		out = append(out, d)
	}
	return out, nil
}

func runNode(ctx context.Context, f nodeCmdFlags, stderr io.Writer) error {
	log, err := newLogger(stderr, f.logLevel)
	if err != nil {
		return err
	}
	devices, err := parseDevices(f.devices)
	if err != nil {
		return err
	}
	if err := f.node.checkBackend(); err != nil {
		return err
	}
	if f.node.slots < 1 {
		return fmt.Errorf("--slots %d: want at least 1", f.node.slots)
	}
	if f.node.allow, err = f.allow.access(); err != nil {
		return err
	}
	logAccess(log, "node", f.node.allow)
	etcdTLS, err := f.etcdTLS.config()
	if err != nil {
		return err
	}
	id := firstOf(f.node.id, hostnameID())
	execs, release, err := newExecutors(ctx, f.node, id, devices, log)
	if err != nil {
		return failed(stderr, err)
	}
	defer release()
	nc, err := connectNodeNATS(natsURLOrEnv(f.natsURL), id, log)
	if err != nil {
		return failed(stderr, err)
	}
	defer nc.Close()
	etcd, err := connectEtcd(ctx, f.etcd, etcdTLS)
	if err != nil {
		return failed(stderr, err)
	}
	defer etcd.Close()
	a, err := newAgent(f.node, agentSpec{id: id, execs: execs}, nc, etcd, log)
	if err != nil {
		return failed(stderr, err)
	}
	if err := a.Run(ctx); err != nil {
		return failed(stderr, fmt.Errorf("running node %s: %w", id, err))
	}
	return nil
}
