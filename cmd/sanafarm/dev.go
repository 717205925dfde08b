package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/coordinator"
	"github.com/sanafarm/sanafarm/internal/embedded"
	"github.com/sanafarm/sanafarm/node"
)

// devFlags are the options of `sanafarm dev`.
// devMinDataFree is the free space sanafarm dev keeps on its --data disk
// before refusing submits (coordinator.Config.MinDataFree): one machine's
// small Raft log, not a cluster's, so less than the coordinator's 1 GiB.
const devMinDataFree = 64 << 20

type devFlags struct {
	node                            nodeFlags
	data, httpAddr, raftBind, token string
	logLevel                        string
	natsPort                        int
	leaseTTL                        time.Duration
	allow                           allowFlags
	apiTLS                          apiTLSFlags
}

func newDevCmd() *cobra.Command {
	var f devFlags
	cmd := &cobra.Command{
		Use:   "dev [--data DIR] [--http ADDR] [--backend cpu|cuda]",
		Short: "Run the whole farm in one process (embedded etcd and NATS, one coordinator, local nodes)",
		Long: `dev runs a complete farm in this process, every part the real component: an
embedded etcd server, an embedded NATS server, a one-voter Raft coordinator
serving the HTTP API, and one node agent per local device (one for the cpu
backend, one per GPU for cuda). Outputs go to local directories (file:// URLs
or paths given to submit --dest). Jobs may read prompt files and write outputs only
under the --data directory and the working directory, unless --allow-read and
--allow-write name other roots.

It prints the API address when the farm is ready; point sanafarm submit,
status, cancel and nodes at it (--addr, default ` + DefaultAddr + `), and
open the web dashboard at its /ui/. Extra nodes may join with sanafarm node
--etcd ENDPOINTS and the node's NATS URL in $SANAFARM_NATS_URL (the command
is printed too).

Jobs survive a restart with the same --data. Ctrl-C shuts down cleanly: the
nodes drain (running shards get --drain-timeout, then are handed back), then
Raft stops, then NATS and etcd.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "data directory: etcd/, raft/ (default: the user cache dir + /sanafarm/dev)")
	fl.StringVar(&f.httpAddr, "http", "127.0.0.1:7700", "HTTP API address host:port (port 0: any free port)")
	fl.StringVar(&f.raftBind, "raft-bind", "127.0.0.1:0", "Raft transport address (one voter: nobody dials it)")
	fl.IntVar(&f.natsPort, "nats-port", 0, "port of the embedded NATS server on 127.0.0.1 (0: any free port)")
	fl.StringVar(&f.token, "token", "", "API bearer token (default $SANAFARM_TOKEN; empty: no auth)")
	fl.DurationVar(&f.leaseTTL, "lease-ttl", coordinator.DefaultLeaseTTL, "task lease: a shard without progress this long is requeued")
	fl.IntVar(&f.node.slots, "slots", 1, "shards each cpu node runs at once")
	fl.StringVar(&f.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	fl.StringVar(&f.node.metricsAddr, "metrics-addr", "", "address of the local nodes' Prometheus /metrics (empty: off; the coordinator's are on --http)")
	f.node.register(fl, 10*time.Second, 250*time.Millisecond)
	f.allow.register(fl, "default: the --data directory and the working directory")
	f.apiTLS.register(fl)
	return cmd
}

// devFarm is the running all-in-one farm; close tears it down in order.
type devFarm struct {
	log    *slog.Logger
	etcd   *embedded.Etcd
	nats   *devNATS
	cli    *clientv3.Client
	nc     *nats.Conn // the coordinator's (user coordinator)
	nodeNC *nats.Conn // the local agents' (user node)
	srv    *coordinator.Server
	agents []*node.Agent

	stopNodes, stopCoord context.CancelFunc
	nodesWG              sync.WaitGroup
	coordDone            chan error
	exited               chan string // a component that stopped on its own
	release              func()
}

func runDev(ctx context.Context, f devFlags, stdout, stderr io.Writer) error {
	log, err := newLogger(stderr, f.logLevel)
	if err != nil {
		return err
	}
	if err := checkTokens(map[string]string{"--token ($SANAFARM_TOKEN)": firstOf(f.token, os.Getenv("SANAFARM_TOKEN"))}); err != nil {
		return err
	}
	if err := f.node.checkBackend(); err != nil {
		return err
	}
	if f.node.slots < 1 {
		return usagef("--slots %d: want at least 1", f.node.slots)
	}
	if f.data == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return failed(stderr, fmt.Errorf("finding a data directory (use --data): %w", err))
		}
		f.data = filepath.Join(c, "sanafarm", "dev")
	}
	defaults, err := devAllowDefaults(f.data)
	if err != nil {
		return err
	}
	if f.node.allow, err = f.allow.access(defaults...); err != nil {
		return err
	}
	d := &devFarm{log: log, coordDone: make(chan error, 1), exited: make(chan string, 16), release: func() {}}
	defer d.close()
	if err := d.start(ctx, f); err != nil {
		return failed(stderr, err)
	}
	fmt.Fprintf(stdout, "sanafarm dev: API %s\n", d.srv.URL())
	fmt.Fprintf(stdout, "  dashboard: %s/ui/\n", d.srv.URL())
	fmt.Fprintf(stdout, "  nodes: %d (%s backend); data: %s\n", len(d.agents), firstOf(f.node.backend.name, "cpu"), f.data)
	fmt.Fprintf(stdout, "  jobs may read under %s and write under %s\n",
		strings.Join(f.node.allow.Read.Roots(), ","), strings.Join(f.node.allow.Write.Roots(), ","))
	// The URL carries the node password: read from the file into the
	// environment, so it never shows in the process list.
	fmt.Fprintf(stdout, "  join more nodes with: SANAFARM_NATS_URL=\"$(cat %s)\" sanafarm node --etcd %s --allow-read %s --allow-write %s\n",
		d.nats.nodeURLFile, d.etcd.Endpoints()[0], strings.Join(f.node.allow.Read.Roots(), ","), strings.Join(f.node.allow.Write.Roots(), ","))
	fmt.Fprintln(stdout, "  Ctrl-C to stop")
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "sanafarm dev: shutting down (draining nodes)")
		return nil
	case what := <-d.exited:
		return failed(stderr, fmt.Errorf("%s stopped unexpectedly", what))
	}
}

// start brings up etcd, NATS, the coordinator (and waits for it to lead)
// and the node agents.
func (d *devFarm) start(ctx context.Context, f devFlags) error {
	var err error
	if d.etcd, err = embedded.StartEtcd(ctx, embedded.EtcdConfig{Dir: filepath.Join(f.data, "etcd")}); err != nil {
		return err
	}
	if d.nats, err = startDevNATS(f.natsPort, f.data); err != nil {
		return err
	}
	if d.cli, err = d.etcd.Client(); err != nil {
		return err
	}
	if d.nc, err = connectNATS(d.nats.coordURL, "sanafarm-dev", d.log); err != nil {
		return err
	}
	if d.nodeNC, err = connectNATS(d.nats.nodeURL, "sanafarm-dev-nodes", d.log); err != nil {
		return err
	}
	if err := d.startCoordinator(ctx, f); err != nil {
		return err
	}
	return d.startNodes(ctx, f)
}

func (d *devFarm) startCoordinator(ctx context.Context, f devFlags) error {
	apiTLS, err := f.apiTLS.config()
	if err != nil {
		return err
	}
	srv, err := coordinator.New(coordinator.Config{ID: "dev", DataDir: filepath.Join(f.data, "raft"), RaftBind: f.raftBind,
		Bootstrap: true, HTTPAddr: f.httpAddr, NATS: d.nc, Etcd: d.cli, Token: firstOf(f.token, os.Getenv("SANAFARM_TOKEN")),
		LeaseTTL: f.leaseTTL, Allow: &f.node.allow, Logger: d.log, APITLS: apiTLS, MinDataFree: devMinDataFree})
	if err != nil {
		return fmt.Errorf("starting the coordinator: %w", err)
	}
	d.srv = srv
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.stopCoord = cancel
	go func() {
		err := srv.Run(cctx)
		d.coordDone <- err
		if cctx.Err() == nil {
			d.exited <- "the coordinator"
		}
	}()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if _, err := srv.WaitForLeader(wctx); err != nil {
		return fmt.Errorf("starting the coordinator: %w", err)
	}
	return nil
}

// startNodes runs one agent per local device: one for cpu, one per GPU
// (NVML's inventory; device 0 when it lists none) for cuda. Each agent
// announces and samples only its own GPU.
func (d *devFarm) startNodes(ctx context.Context, f devFlags) error {
	inv := node.NewGPUInspector(d.log)
	devices, _, err := resolveDevices(ctx, f.node.backend.name, nil, inv)
	if err != nil {
		d.log.Warn("no GPU in the inventory; running one cuda agent on device 0", "err", err)
		devices = []int{0}
	}
	nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.stopNodes = cancel
	if err := f.node.serveMetrics(nctx, d.log); err != nil {
		return err
	}
	var releases []func()
	d.release = func() {
		for _, r := range releases {
			r()
		}
	}
	for _, dev := range devices {
		id := fmt.Sprintf("dev-%s%d", firstOf(f.node.backend.name, "cpu"), dev)
		execs, release, err := newExecutors(ctx, f.node, id, []int{dev}, d.log)
		if err != nil {
			return err
		}
		releases = append(releases, release)
		a, err := newAgent(f.node, agentSpec{id: id, execs: execs, gpus: node.SelectGPUs(inv, []int{dev})}, d.nodeNC, d.cli, d.log)
		if err != nil {
			return err
		}
		d.agents = append(d.agents, a)
		d.nodesWG.Go(func() {
			if err := a.Run(nctx); err != nil {
				d.log.Error("node stopped", "node_id", id, "err", err)
			}
			if nctx.Err() == nil {
				d.exited <- "node " + id
			}
		})
	}
	return nil
}

// close stops what started, in order: nodes (drain), coordinator (Raft),
// connections, NATS, etcd (each once).
func (d *devFarm) close() {
	if d.stopNodes != nil {
		d.stopNodes()
		d.nodesWG.Wait()
	}
	d.release()
	if d.stopCoord != nil {
		d.stopCoord()
		if err := <-d.coordDone; err != nil && !errors.Is(err, context.Canceled) {
			d.log.Error("stopping the coordinator", "err", err)
		}
	}
	if d.nc != nil {
		d.nc.Close()
	}
	if d.nodeNC != nil {
		d.nodeNC.Close()
	}
	if d.cli != nil {
		_ = d.cli.Close()
	}
	if d.nats != nil {
		d.nats.Close()
	}
	if d.etcd != nil {
		d.etcd.Close()
	}
}
