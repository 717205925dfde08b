package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/sanafarm/sanafarm/internal/redact"
	"github.com/sanafarm/sanafarm/model/hub"
	"github.com/sanafarm/sanafarm/node"
	"github.com/sanafarm/sanafarm/protocol"
)

// This file holds what the daemon commands (coordinator, node, dev)
// share: logging, connections to NATS and etcd, and building node agents.

// newLogger logs text to w at the named level.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// SANAFARM_NATS_URL is read when --nats is not given: a URL with a
// password belongs in the environment (a systemd EnvironmentFile), not on
// the command line, which every local user can read (/proc/<pid>/cmdline).
const (
	envNATSURL     = "SANAFARM_NATS_URL"
	defaultNATSURL = "nats://127.0.0.1:4222"
	natsFlagHelp   = " (default $" + envNATSURL + ", else " + defaultNATSURL + "; put a URL with a password in the variable, not on the command line)"
)

// natsURLOrEnv is the --nats value, else $SANAFARM_NATS_URL, else the
// local default.
func natsURLOrEnv(flag string) string {
	if flag != "" {
		return flag
	}
	if v := os.Getenv(envNATSURL); v != "" {
		return v
	}
	return defaultNATSURL
}

// connectNATS connects with unlimited reconnects (the server may restart).
func connectNATS(url, name string, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	opts := append([]nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(500 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		// Permission violations and slow consumers arrive here.
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Warn("nats error", "subject", sub.Subject, "err", err)
			} else {
				log.Warn("nats error", "err", err)
			}
		}),
		// Redacted twice over: ConnectedUrlRedacted keeps a token (a URL
		// with only a user part) visible.
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", "url", redact.URL(c.ConnectedUrlRedacted()))
		})}, extra...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to nats at %s: %w", redact.URL(url), redact.Error(err))
	}
	return nc, nil
}

// connectEtcd dials the endpoints (comma-separated host:port or URLs) as
// the user of $SANAFARM_ETCD_USER and $SANAFARM_ETCD_PASSWORD, if set
// (etcdauth.go).
//
// tc is the client TLS (etcdTLSFlags; nil: plain, or https endpoints
// verified against the system roots).
func connectEtcd(ctx context.Context, endpoints string, tc *tls.Config) (*clientv3.Client, error) {
	user, password, err := etcdCreds()
	if err != nil {
		return nil, err
	}
	return connectEtcdAs(ctx, endpoints, tc, user, password)
}

// connectEtcdAs is connectEtcd as user ("": none).
func connectEtcdAs(ctx context.Context, endpoints string, tc *tls.Config, user, password string) (*clientv3.Client, error) {
	eps := splitList(endpoints)
	if len(eps) == 0 {
		return nil, fmt.Errorf("no etcd endpoints")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, TLS: tc, Logger: zap.NewNop(),
		Username: user, Password: password})
	if err != nil {
		return nil, fmt.Errorf("connecting to etcd at %s: %w", redact.URL(endpoints), err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Status(sctx, eps[0]); err != nil {
		cli.Close()
		return nil, fmt.Errorf("connecting to etcd at %s: %w", redact.URL(endpoints), err)
	}
	return cli, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// nodeFlags configure a node agent (sanafarm node, and each agent of
// sanafarm dev).
type nodeFlags struct {
	id           string
	backend      backendOptions
	slots        int
	cache        string
	modelMirror  string
	maxModel     int64 // --max-model-bytes
	leaseTTL     time.Duration
	drainTimeout time.Duration
	poll         time.Duration
	allow        protocol.Access // --allow-read/--allow-write (node.go, dev.go)
	resident     int
	batch        int
	patience     time.Duration // --store-patience
	stall        time.Duration // --stall-timeout
	telemetry    time.Duration // --telemetry-interval
	metricsAddr  string        // --metrics-addr (node.go, dev.go)
	metricsToken string        // --metrics-token (node.go; nodemetrics.go reads the environment)
	metrics      *node.Metrics // serving metricsAddr (nodemetrics.go); nil: none
}

func (f *nodeFlags) register(fl *pflag.FlagSet, drainDefault, pollDefault time.Duration) {
	fl.DurationVar(&f.poll, "poll-interval", pollDefault, "how often an idle node asks for work")
	fl.StringVar(&f.backend.name, "backend", "cpu", "compute backend: cpu, or cuda in binaries built with make build-cuda")
	fl.IntVar(&f.backend.threads, "threads", 0, "CPU threads of the cpu backend (default: all cores)")
	fl.StringVar(&f.backend.precision, "precision", "auto", precisionUsage)
	f.backend.registerGraphs(fl)
	fl.StringVar(&f.cache, "cache", "", "model cache root for sana-tiny (default $SANAFARM_CACHE, else the user cache dir + /sanafarm)")
	fl.StringVar(&f.modelMirror, "model-mirror", "", "`URL` of a model mirror filled by sanafarm models push (s3://bucket/models; S3 settings from AWS_* / S3_ENDPOINT): models not cached locally come from it before the Hub")
	fl.Int64Var(&f.maxModel, "max-model-bytes", hub.DefaultMaxDownloadBytes, "most bytes one model download from the Hub or the mirror may fetch (a job may name any Hub repo); a download must also leave 1 GiB free on the cache's disk (half the free space on a nearly full one); -1: no bound")
	fl.DurationVar(&f.leaseTTL, "node-ttl", 10*time.Second, "etcd lease of the node's announcement: a node silent this long is lost and its shards requeued")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", drainDefault, "on shutdown, how long running shards may finish before they are handed back")
	fl.DurationVar(&f.telemetry, "telemetry-interval", protocol.DefaultTelemetryInterval, "how often the GPUs are sampled and sent to the coordinators (memory, utilisation, temperature, power, clocks, throttling, ECC); negative: never")
	fl.IntVar(&f.batch, "batch", 0, "images per forward on each slot; 0 chooses the largest batch that fits the GPU's free memory (1 on the cpu backend)")
	fl.IntVar(&f.resident, "resident", 1, "loaded pipelines kept per slot (each model and each fused LoRA set of it counts; least recently used unloaded first)")
	fl.DurationVar(&f.patience, "store-patience", node.DefaultStorePatience, "how long a shard keeps its rendered images and retries through an outage of the output or input store before it fails (1s..24h)")
	fl.DurationVar(&f.stall, "stall-timeout", node.DefaultStallTimeout, "give up a running shard that finished no image for this long, plus --store-patience (what its uploads may wait out), after its model loaded (a hung GPU or driver): reported failed, its lease left to expire (1m..24h; 0: never)")
}

// checkBackend rejects a backend this binary does not have (a usage
// error, before anything starts).
func (f *nodeFlags) checkBackend() error {
	if err := checkTokens(map[string]string{"--metrics-token ($" + metricsTokenEnv + ")": f.metricsBearer()}); err != nil {
		return err
	}
	if f.maxModel == 0 || f.maxModel < -1 {
		return usagef("--max-model-bytes %d: want a positive size in bytes, or -1 for no bound", f.maxModel)
	}
	if f.resident < 1 || f.resident > 64 {
		return usagef("--resident %d: want 1..64 pipelines per slot", f.resident)
	}
	if f.batch < 0 || f.batch > 256 {
		return usagef("--batch %d: want 0 (from free memory) or 1..256 images per forward", f.batch)
	}
	if f.patience < time.Second || f.patience > 24*time.Hour {
		return usagef("--store-patience %s: want 1s..24h", f.patience)
	}
	if f.stall != 0 && (f.stall < time.Minute || f.stall > 24*time.Hour) {
		return usagef("--stall-timeout %s: want 0 (never) or 1m..24h", f.stall)
	}
	if _, err := f.backend.precisionMode(); err != nil {
		return err
	}
	name := firstOf(f.backend.name, "cpu")
	if !slices.Contains(backendNames(), name) {
		return usagef("--backend %s: this binary has %s (CUDA needs make build-cuda)", name, strings.Join(backendNames(), ", "))
	}
	return nil
}

// agentSpec is one agent to build: its id, the executors of its slots
// and the GPUs it announces and samples (nil: none on the cpu backend,
// else every GPU of the machine).
type agentSpec struct {
	id    string
	execs []node.Executor
	gpus  node.GPUInspector
}

// newExecutors makes one pipeline executor per device (one for cpu).
func newExecutors(ctx context.Context, f nodeFlags, id string, devices []int, log *slog.Logger) ([]node.Executor, func(), error) {
	cpuOnly := f.backend.name == "" || f.backend.name == "cpu"
	if cpuOnly {
		devices = []int{0}
	}
	var gpus []protocol.GPUInfo
	if !cpuOnly {
		var err error
		if gpus, err = node.NewGPUInspector(log).GPUs(ctx); err != nil {
			log.Warn("reading the GPU inventory; recording no GPU model", "err", err)
		}
	}
	var execs []node.Executor
	var closers []func()
	release := func() {
		for _, c := range closers {
			c()
		}
	}
	models := &node.ModelResolver{CacheRoot: f.cache, Mirror: f.modelMirror, MaxDownloadBytes: f.maxModel}
	for _, d := range devices {
		o := f.backend
		o.device = d
		be, closeBackend, err := newBackend(o)
		if err != nil {
			release()
			return nil, nil, err
		}
		logBackend(log, be, d)
		pe := node.NewPipelineExecutor(node.PipelineConfig{Backend: be, Models: models, Node: id, Logger: log, Allow: f.allow,
			GPU: gpuModel(f.backend.name, d, gpus), GPUUUID: gpuUUID(d, gpus), Resident: f.resident, BatchSize: f.batch,
			StorePatience: f.patience, Metrics: f.metrics})
		closers = append(closers, func() { _ = pe.Close(); closeBackend() })
		execs = append(execs, pe)
	}
	return execs, release, nil
}

// gpuModel is the device model an executor records in provenance and
// stats: "cpu" on the cpu backend, else the name of the inventory's GPU
// with the device's index (the first GPU's when none has it), "" when the
// inventory is empty.
func gpuModel(backend string, device int, gpus []protocol.GPUInfo) string {
	if backend == "" || backend == "cpu" {
		return "cpu"
	}
	for _, g := range gpus {
		if g.Index == device {
			return g.Name
		}
	}
	if len(gpus) > 0 {
		return gpus[0].Name
	}
	return ""
}

// stallConfig is node.Config.StallTimeout for --stall-timeout d: -1
// (never) for 0, else d plus the store patience, since uploads waiting
// out a store outage finish no image either.
func stallConfig(d, patience time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d + patience
}

// newAgent builds an agent over the given connections. A cpu-backend
// node announces no GPUs even on a GPU machine: the scheduler fits models
// by GPU memory only on nodes that list GPUs.
func newAgent(f nodeFlags, spec agentSpec, nc *nats.Conn, etcd *clientv3.Client, log *slog.Logger) (*node.Agent, error) {
	cfg := node.Config{ID: spec.id, NATS: nc, Etcd: etcd, Backend: firstOf(f.backend.name, "cpu"), Version: buildVersion(),
		LeaseTTL: f.leaseTTL, DrainTimeout: f.drainTimeout, PollInterval: f.poll, Logger: log,
		GPUs: spec.gpus, TelemetryInterval: f.telemetry, Metrics: f.metrics, StallTimeout: stallConfig(f.stall, f.patience)}
	if p, err := f.backend.precisionMode(); err == nil {
		cfg.Precision = p.String()
	}
	if cfg.Backend == "cpu" {
		cfg.GPUs = node.NoGPUs{}
	} else {
		cfg.CUDAGraphs = f.backend.graphs
	}
	if len(spec.execs) == 1 {
		cfg.Executor, cfg.Slots = spec.execs[0], max(f.slots, 1)
	} else {
		cfg.Executors = spec.execs
	}
	a, err := node.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating node agent %s: %w", spec.id, err)
	}
	return a, nil
}

// gpuUUID is the NVML UUID of the inventory's GPU with the device's
// index, recorded in provenance ("" when none has it).
func gpuUUID(device int, gpus []protocol.GPUInfo) string {
	for _, g := range gpus {
		if g.Index == device {
			return g.UUID
		}
	}
	return ""
}

// buildVersion is the module version, else the VCS revision the binary
// was built from, else "dev" (announced by nodes).
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	return "dev"
}
