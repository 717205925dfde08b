// Package testcluster starts a whole farm inside a test: N coordinators
// (real Raft over loopback TCP), an embedded etcd, an embedded NATS server
// and M node agents on the CPU backend running the real sana-tiny
// pipeline. Everything is the real component; only the executor may be
// swapped for a fixture (scheduler and benchmark tests). Cleanup is
// registered with t.Cleanup.
package testcluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/coordinator"
	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/internal/embedded"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/node"
	"github.com/sanafarm/sanafarm/protocol"
)

// Options configures a cluster. Zero fields get the defaults noted.
type Options struct {
	// Coordinators is the number of Raft voters (default 3).
	Coordinators int
	// Nodes is the number of node agents (default 2; 0 with NoNodes).
	Nodes   int
	NoNodes bool
	// LeaseTTL is the coordinators' task lease without progress (default 10 s).
	LeaseTTL time.Duration
	// NodeLeaseTTL is the etcd lease of node announcements (default 2 s).
	NodeLeaseTTL time.Duration
	// Executor makes node i's executor. Default: the real
	// node.NewPipelineExecutor on the CPU backend, resolving sana-tiny into
	// a cache directory shared by the cluster's nodes. A fixture executor
	// belongs only in scheduler and benchmark tests.
	Executor func(i int, id string) node.Executor
	// Threads is each default executor's CPU thread count (0 = all cores).
	Threads int
	// Slots per node (default 1).
	Slots int
	// OutputDir is where tests point jobs' output (default t.TempDir()).
	OutputDir string
	// Token is the API bearer token (default "test-token").
	Token string
	// Node timings (defaults: poll 100 ms, backoff cap 500 ms, request
	// timeout 2 s, heartbeat 500 ms, drain grace 500 ms).
	PollInterval, MaxBackoff, RequestTimeout, ProgressInterval, DrainTimeout time.Duration
	// Logger receives every component's logs (default: discarded, or
	// stderr at debug level when SANAFARM_TEST_LOG is set).
	Logger *slog.Logger
	// SplitNATS runs two NATS servers in one cluster whose route a test
	// can cut (CutRoute): voter c0 connects to the first, every other
	// voter and node to the second (splitnats.go).
	SplitNATS bool
	// NATSHandoverAfter is the coordinators' Config.NATSHandoverAfter and
	// UnreachableAfter the nodes' Config.UnreachableAfter (0: theirs).
	NATSHandoverAfter, UnreachableAfter time.Duration
	// EtcdQuota is the embedded etcd's database quota in bytes (0: etcd's
	// 2 GiB), for tests that fill it (embedtest.FillEtcd).
	EtcdQuota int64
}

func (o *Options) setDefaults(t testing.TB) {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.Coordinators <= 0 {
		o.Coordinators = 3
	}
	if o.Nodes <= 0 && !o.NoNodes {
		o.Nodes = 2
	}
	def(&o.LeaseTTL, 10*time.Second)
	def(&o.NodeLeaseTTL, 2*time.Second)
	def(&o.PollInterval, 100*time.Millisecond)
	def(&o.MaxBackoff, 500*time.Millisecond)
	def(&o.RequestTimeout, 2*time.Second)
	def(&o.ProgressInterval, 500*time.Millisecond)
	def(&o.DrainTimeout, 500*time.Millisecond)
	o.Slots = max(o.Slots, 1)
	if o.OutputDir == "" {
		o.OutputDir = t.TempDir()
	}
	if o.Token == "" {
		o.Token = "test-token"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
		if os.Getenv("SANAFARM_TEST_LOG") != "" {
			o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
}

// Cluster is a running farm. Its methods call t.Fatal on failure, so use
// them from the test goroutine.
type Cluster struct {
	t    testing.TB
	opts Options
	// Etcd is a client of the embedded etcd (the coordinators share it).
	Etcd *clientv3.Client
	// NATSURL is the embedded NATS server's client URL.
	NATSURL string
	// OutputDir is Options.OutputDir.
	OutputDir string
	// Models resolves sana-tiny for the default executors.
	Models *node.ModelResolver

	etcd   *embedded.Etcd
	coords []*coord
	nodes  []*agent
	split  *splitNATS // Options.SplitNATS
}

type coord struct {
	srv    *coordinator.Server
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan error
}

type agent struct {
	id     string
	a      *node.Agent
	exec   node.Executor
	nc     *nats.Conn
	etcd   *clientv3.Client
	cancel context.CancelFunc
	kill   context.CancelCauseFunc // cancels running Executes at once
	done   chan error
	once   sync.Once
}

// Start runs etcd, NATS, the coordinators (bootstrapped as one cluster)
// and the nodes, and waits for a leader.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	opts.setDefaults(t)
	c := &Cluster{t: t, opts: opts, OutputDir: opts.OutputDir,
		Models: &node.ModelResolver{CacheRoot: filepath.Join(t.TempDir(), "cache")}}
	c.startInfra()
	c.startCoordinators()
	t.Cleanup(c.stopAll)
	c.Leader()
	for i := range opts.Nodes {
		c.nodes = append(c.nodes, c.startNode(i))
	}
	return c
}

func (c *Cluster) startInfra() {
	t := c.t
	e, err := embedded.StartEtcd(context.Background(), embedded.EtcdConfig{Dir: t.TempDir(), QuotaBytes: c.opts.EtcdQuota})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	c.etcd = e
	c.Etcd = c.etcdClient()
	if c.opts.SplitNATS {
		c.split = startSplitNATS(t)
		c.NATSURL = c.split.b.URL()
		return
	}
	n, err := embedded.StartNATS(embedded.NATSConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	c.NATSURL = n.URL()
}

func (c *Cluster) etcdClient() *clientv3.Client {
	cli, err := c.etcd.Client()
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cli.Close() })
	return cli
}

// Connect returns a new NATS connection to the cluster's server, closed
// at cleanup.
func (c *Cluster) Connect() *nats.Conn { return c.connectTo(c.NATSURL) }

// connectTo returns a new NATS connection to url, closed at cleanup.
func (c *Cluster) connectTo(url string) *nats.Conn {
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	if err != nil {
		c.t.Fatalf("connecting to nats: %v", err)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

// startCoordinators binds every voter's Raft listener first so that each
// knows all addresses, then bootstraps and runs them.
func (c *Cluster) startCoordinators() {
	t := c.t
	var lns []net.Listener
	var peers []coordinator.Peer
	for i := range c.opts.Coordinators {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		peers = append(peers, coordinator.Peer{ID: fmt.Sprintf("c%d", i), Addr: ln.Addr().String()})
	}
	allow := TestAccess()
	for i, p := range peers {
		nc := c.connectTo(c.coordNATS(i))
		srv, err := coordinator.New(coordinator.Config{ID: p.ID, DataDir: t.TempDir(), RaftListener: lns[i],
			Bootstrap: true, Peers: peers, NATS: nc, Etcd: c.Etcd, Token: c.opts.Token, LeaseTTL: c.opts.LeaseTTL, Allow: &allow,
			NATSHandoverAfter: c.opts.NATSHandoverAfter, ProgressInterval: 50 * time.Millisecond,
			MinDataFree: -1, // no floor on the test machine's disk (coordinator TestDataDiskFloor covers it)
			Logger:      c.opts.Logger.With("coordinator", p.ID)})
		if err != nil {
			t.Fatalf("creating coordinator %s: %v", p.ID, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		m := &coord{srv: srv, nc: nc, cancel: cancel, done: make(chan error, 1)}
		go func() { m.done <- srv.Run(ctx) }()
		c.coords = append(c.coords, m)
	}
}

// defaultExecutor is the real pipeline on the CPU backend.
func (c *Cluster) defaultExecutor(_ int, id string) node.Executor {
	return node.NewPipelineExecutor(node.PipelineConfig{Backend: cpu.New(cpu.Config{Threads: c.opts.Threads}),
		Models: c.Models, Node: id, Logger: c.opts.Logger.With("node_id", id), Allow: TestAccess()})
}

// TestAccess is what the cluster's coordinators and default nodes let jobs
// read and write: the OS temp directory (every t.TempDir()), the S3 tests'
// bucket s3://farm and /fixture (fixture jobs' locations, never opened).
func TestAccess() protocol.Access {
	l := protocol.MustAllowList(os.TempDir(), "s3://farm", "/fixture")
	return protocol.Access{Read: l, Write: l}
}

// startNode creates and runs node agent i (id "n<i>").
func (c *Cluster) startNode(i int) *agent {
	t := c.t
	id := fmt.Sprintf("n%d", i)
	mk := c.opts.Executor
	if mk == nil {
		mk = c.defaultExecutor
	}
	n := &agent{id: id, exec: mk(i, id), nc: c.Connect(), etcd: c.etcdClient(), done: make(chan error, 1)}
	killed, kill := context.WithCancelCause(context.Background())
	n.kill = kill
	exec := killableExec{Executor: n.exec, killed: killed}
	a, err := node.New(node.Config{ID: id, NATS: n.nc, Etcd: n.etcd, Executor: exec, Slots: c.opts.Slots,
		Backend: "cpu", LeaseTTL: c.opts.NodeLeaseTTL, PollInterval: c.opts.PollInterval,
		MaxBackoff: c.opts.MaxBackoff, RequestTimeout: c.opts.RequestTimeout,
		ProgressInterval: c.opts.ProgressInterval, ProgressMinGap: 50 * time.Millisecond,
		DrainTimeout: c.opts.DrainTimeout, UnreachableAfter: c.opts.UnreachableAfter, Logger: c.opts.Logger})
	if err != nil {
		t.Fatalf("creating node %s: %v", id, err)
	}
	n.a = a
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { n.done <- a.Run(ctx) }()
	return n
}

// stopAll stops the nodes (draining), then the coordinators. etcd and
// NATS close after (their cleanups were registered first).
func (c *Cluster) stopAll() {
	for _, n := range c.nodes {
		n.stop(c.t)
	}
	for i := range c.coords {
		c.StopCoordinator(i)
	}
}

// stop ends a node's Run (once) and waits for it, then releases its
// executor.
func (n *agent) stop(t testing.TB) {
	n.once.Do(func() {
		n.cancel()
		if err := <-n.done; err != nil {
			t.Errorf("node %s: %v", n.id, err)
		}
		if cl, ok := n.exec.(interface{ Close() error }); ok {
			_ = cl.Close()
		}
		n.nc.Close()
	})
}

// Coordinator returns voter i (it may be stopped).
func (c *Cluster) Coordinator(i int) *coordinator.Server { return c.coords[i].srv }

// Live reports whether voter i is running.
func (c *Cluster) Live(i int) bool { return c.coords[i].cancel != nil }

// LeaderIndex polls until a live voter leads and returns its index.
func (c *Cluster) LeaderIndex() int {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for i, m := range c.coords {
			if m.cancel != nil && m.srv.IsLeader() {
				return i
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatal("no coordinator became leader within 15s")
	return -1
}

// Leader polls until a live voter leads and returns it.
func (c *Cluster) Leader() *coordinator.Server { return c.coords[c.LeaderIndex()].srv }

// Client returns an API client of a live coordinator (a follower when
// there is one, so writes exercise forwarding).
func (c *Cluster) Client() *client.Client {
	c.t.Helper()
	lead := c.LeaderIndex()
	pick := lead
	for i, m := range c.coords {
		if m.cancel != nil && i != lead {
			pick = i
			break
		}
	}
	return client.New(c.coords[pick].srv.URL(), c.opts.Token)
}

// WaitJob polls the live coordinators until the job is terminal (done,
// failed or cancelled) or ctx ends.
func (c *Cluster) WaitJob(ctx context.Context, id protocol.JobID) (protocol.Job, error) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	var last protocol.Job
	for {
		for _, m := range c.coords {
			if m.cancel == nil {
				continue
			}
			if j, ok := m.srv.Store().JobByID(id); ok {
				last = j
				if j.State.Terminal() {
					return j, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("waiting for job %s (last seen %s, %d/%d shards): %w",
				id, last.State, last.ShardsDone, last.Shards, ctx.Err())
		case <-t.C:
		}
	}
}
