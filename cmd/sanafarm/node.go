package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sanafarm/sanafarm/node"
	"github.com/sanafarm/sanafarm/storage"
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

With --backend cuda the node runs one slot per device in --devices (all: one
per GPU NVML finds); with the cpu backend it runs --slots shards at a time
(default 1, using all cores). The GPUs of the slots are sampled every
--telemetry-interval (memory, utilisation, temperature, power, clocks,
throttling, ECC errors) and sent to the coordinators: sanafarm nodes shows
them.

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
	fl.StringVar(&f.devices, "devices", "0", "CUDA device ordinals, comma-separated, or all: one slot each (with --backend cuda)")
	fl.IntVar(&f.node.slots, "slots", 1, "shards run at once with the cpu backend")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.StringVar(&f.node.metricsAddr, "metrics-addr", ":9464", "address of the node's Prometheus /metrics (empty: off)")
	fl.StringVar(&f.node.metricsToken, "metrics-token", "", "bearer token /metrics asks for (default $"+metricsTokenEnv+"; empty: public)")
	f.node.register(fl, 60*time.Second, 2*time.Second)
	f.allow.register(fl, "default: none, so every job is refused")
	f.etcdTLS.register(fl)
	return cmd
}

// parseDevices reads --devices: ordinals, or "all" (nil: resolved by
// resolveDevices from the GPU inventory).
func parseDevices(s string) ([]int, error) {
	if strings.TrimSpace(s) == "all" {
		return nil, nil
	}
	var out []int
	for _, p := range splitList(s) {
		var d int
		if _, err := fmt.Sscanf(p, "%d", &d); err != nil || d < 0 {
			return nil, usagef("--devices %q: want device ordinals like 0,1, or all", s)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, usagef("--devices %q: want device ordinals like 0,1, or all", s)
	}
	return out, nil
}

// resolveDevices returns the node's devices and the inspector of their
// GPUs: the listed ordinals, or with "all" (devices nil) every GPU the
// inventory lists (an error when it lists none: a cuda node without a
// GPU could not run anything). The cpu backend has device 0 and no GPUs.
func resolveDevices(ctx context.Context, backend string, devices []int, inv node.GPUInspector) ([]int, node.GPUInspector, error) {
	if backend == "" || backend == "cpu" {
		return []int{0}, node.NoGPUs{}, nil
	}
	if devices != nil {
		return devices, node.SelectGPUs(inv, devices), nil
	}
	gpus, err := inv.GPUs(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("--devices all: reading the GPU inventory: %w", err)
	}
	for _, g := range gpus {
		devices = append(devices, g.Index)
	}
	if len(devices) == 0 {
		return nil, nil, fmt.Errorf("--devices all: no GPU found (see the log: NVML needs the NVIDIA driver and a cgo build)")
	}
	return devices, inv, nil
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
		return usagef("--slots %d: want at least 1", f.node.slots)
	}
	if err := storage.CheckS3Env(); err != nil {
		return usage(err) // else every job writing to S3 would fail on it
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
	if err := f.node.serveMetrics(ctx, log); err != nil {
		return failed(stderr, err)
	}
	devices, gpus, err := resolveDevices(ctx, f.node.backend.name, devices, node.NewGPUInspector(log))
	if err != nil {
		return failed(stderr, err)
	}
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
	a, err := newAgent(f.node, agentSpec{id: id, execs: execs, gpus: gpus}, nc, etcd, log)
	if err != nil {
		return failed(stderr, err)
	}
	if err := a.Run(ctx); err != nil {
		return failed(stderr, fmt.Errorf("running node %s: %w", id, err))
	}
	return nil
}
