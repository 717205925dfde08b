package node

import (
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/sanafarm/sanafarm/protocol"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Config configures an Agent. NATS, an Executor (or Executors) and Etcd
// (or an Announcer) are required; every other zero field has a default.
type Config struct {
	// ID names the node (default: the hostname).
	ID string
	// NATS carries lease, progress and completion requests to the leader.
	NATS *nats.Conn
	// Etcd is where the node announces itself (unless Announcer is set).
	Etcd *clientv3.Client
	// Announcer overrides the etcd announcement (white-box tests).
	Announcer Announcer
	// Executor runs tasks; with Slots > 1 it must allow concurrent
	// Execute calls (PipelineExecutor serializes each loaded pipeline).
	Executor Executor
	// Executors, if set, gives each slot its own executor (one per GPU);
	// Slots is then len(Executors).
	Executors []Executor
	// Slots is how many tasks run at once (default: one per GPU for GPU
	// backends, 1 for the CPU backend).
	Slots int
	// GPUs inspects the GPU inventory (default NewGPUInspector).
	GPUs GPUInspector
	// TelemetryInterval is how often the GPUs are sampled and sent to the
	// coordinators (default protocol.DefaultTelemetryInterval; negative:
	// never, the inventory is read once at start). telemetry.go.
	TelemetryInterval time.Duration
	// Backend is the compute backend name announced ("cpu" default), with
	// its precision and CUDA-graph mode (NodeInfo.Precision, CUDAGraphs).
	Backend    string
	Precision  string
	CUDAGraphs bool
	// Version is announced as NodeInfo.Version.
	Version string
	// LeaseTTL is the etcd announcement lease (default 10 s).
	LeaseTTL time.Duration
	// PollInterval is the wait between lease requests when there is no
	// work (default 2 s); errors back off from it up to MaxBackoff.
	PollInterval time.Duration
	// MaxBackoff caps retry waits (default 10 s).
	MaxBackoff time.Duration
	// RequestTimeout bounds each NATS request (default 5 s).
	RequestTimeout time.Duration
	// UnreachableAfter is how long control requests find no leader, while
	// the node's NATS connection is up, before the node says so in its
	// announcement (NodeInfo.LeaderUnreachable; default 10 s; reach.go).
	UnreachableAfter time.Duration
	// CompletionPatience is how long past its lease deadline the
	// completion of a finished shard is retried while no coordinator
	// answers (default 2 min): the leader holds leases while its own NATS
	// link is down (docs/architecture.md §6), so a NATS outage need not
	// throw away finished work. A stale attempt is refused at once; a
	// draining node gives up at the lease deadline.
	CompletionPatience time.Duration
	// ProgressInterval is the heartbeat of a running task (default 3 s);
	// image completions are reported too, at most every ProgressMinGap
	// (default 250 ms).
	ProgressInterval time.Duration
	ProgressMinGap   time.Duration
	// StallTimeout gives up a running task that finished no image for this
	// long once its model resolved (default 30 min; negative: never): a
	// hung GPU kernel or a wedged driver keeps the process alive and its
	// heartbeat going, so its shard would stay leased for ever. The task
	// is reported failed and its heartbeat stops, so the leader requeues
	// it even if the executor never returns (task.go, watchdog). Keep it
	// above the executor's store patience: uploads waiting out a store
	// outage finish no image either (sanafarm node adds the patience to
	// its --stall-timeout).
	StallTimeout time.Duration
	// DrainTimeout is the grace period running tasks get after Run's
	// context ends before they are handed back (default 60 s);
	// HandBackTimeout bounds the wait for them to stop after that (default
	// 45 s: the systemd unit allows the drain a minute more than
	// --drain-timeout), after which Run returns without them.
	DrainTimeout, HandBackTimeout time.Duration
	// NoGang keeps the node out of gangs (parallel jobs): set it when the
	// executor cannot run one rank of a parallel assignment.
	NoGang bool
	// GroupJoinTimeout bounds the wait for every rank of a gang to join
	// its transport (default 30 s); PeerTimeout is how long a silent rank
	// is tolerated before the attempt fails (default 3 s).
	GroupJoinTimeout, PeerTimeout time.Duration
	// Logger receives the agent's logs (default: discard).
	Logger *slog.Logger
	// Metrics gets the agent's GPU gauges and NATS, S3 and Hub retry
	// counts (nil: none); sanafarm node serves it on --metrics-addr.
	Metrics *Metrics
}

func (c *Config) setDefaults() error {
	if c.NATS == nil {
		return errors.New("node config: NATS connection required")
	}
	if c.Executor == nil && len(c.Executors) == 0 {
		return errors.New("node config: an Executor is required")
	}
	if c.Etcd == nil && c.Announcer == nil {
		return errors.New("node config: an etcd client (or an Announcer) is required")
	}
	if c.ID == "" {
		c.ID = defaultID()
	}
	if strings.ContainsAny(c.ID, "/ \t\n") {
		return errors.New("node config: ID must not contain slashes or spaces")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.LeaseTTL, 10*time.Second)
	def(&c.PollInterval, 2*time.Second)
	def(&c.MaxBackoff, 10*time.Second)
	def(&c.RequestTimeout, 5*time.Second)
	def(&c.UnreachableAfter, 10*time.Second)
	def(&c.CompletionPatience, 2*time.Minute)
	def(&c.ProgressInterval, 3*time.Second)
	def(&c.ProgressMinGap, 250*time.Millisecond)
	def(&c.StallTimeout, DefaultStallTimeout)
	def(&c.DrainTimeout, 60*time.Second)
	def(&c.HandBackTimeout, 45*time.Second)
	def(&c.GroupJoinTimeout, 30*time.Second)
	def(&c.PeerTimeout, 3*time.Second)
	if c.TelemetryInterval == 0 {
		c.TelemetryInterval = protocol.DefaultTelemetryInterval
	}
	if c.Backend == "" {
		c.Backend = "cpu"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.GPUs == nil {
		c.GPUs = NewGPUInspector(c.Logger)
	}
	if c.Announcer == nil {
		c.Announcer = NewEtcdAnnouncer(c.Etcd, c.LeaseTTL, c.Logger)
	}
	return nil
}

// defaultID is the hostname-based id ("node" when it cannot be read).
func defaultID() string { return protocol.HostnameID("node") }
