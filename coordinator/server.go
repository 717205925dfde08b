package coordinator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sanafarm/sanafarm/coordinator/state"
)

// ErrNotLeader is returned for writes on a server that is not the leader
// (or lost leadership while applying).
var ErrNotLeader = errors.New("not the raft leader")

// Server is one coordinator voter.
type Server struct {
	cfg       Config
	log       *slog.Logger
	disk      *raftDisk // the Raft stores (raftstore.go)
	store     *state.Store
	fsm       *fsm
	raftLn    net.Listener
	httpLn    net.Listener
	advertise string
	registry  *prometheus.Registry
	metrics   *coordMetrics // metrics_raft.go
	specSizes specSizes     // room.go
	progress  *progressBuffer
	nodes     *nodeView
	reserved  *reservations // tasks picked but not yet committed
	gangs     *gangs        // forming gangs of parallel tasks (leader only)
	grants    *grantLog     // grants not yet confirmed by their node (leader only; grants.go)
	seqs      *seqMarks     // each node's latest lease request (leader only; leaseseq.go)
	notifyCh  chan bool     // raft leadership changes
	manifests *manifests    // job manifests written by this leader
	events    *eventHub     // the event stream (events.go)
	features  *featureGate  // commands every server knows (features.go)
	handBacks *handBacks    // node incarnations that handed shards back (handback.go; leader only)
	restarts  *restartWatch // restarts announced in etcd, not yet seen on NATS (restarts.go; leader only)

	etcdHealth etcdProbe  // the last etcd probe of Health (health.go)
	voterDisks voterDisks // the voters' data disk space, read by the leader (datadisk_voters.go)
	// nodeTraffic is when a node message last reached this leader (unix
	// nanoseconds; nodelink.go).
	nodeTraffic atomic.Int64
	// natsUp: this coordinator's NATS link answered its last probe
	// (handover.go).
	natsUp atomic.Bool
	// serving: this leader's node-traffic subscriptions are in place
	// (leader.go); a new leader answers nodes only after its barrier.
	serving atomic.Bool

	mu   sync.Mutex // guards raft (set once in Run)
	raft *raft.Raft
}

// New binds the Raft and HTTP listeners; Run starts everything else.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("coordinator", cfg.ID), store: state.New(),
		progress: newProgressBuffer(), nodes: newNodeView(), reserved: newReservations(), gangs: newGangs(), grants: newGrantLog(), seqs: newSeqMarks(), notifyCh: make(chan bool, 16),
		manifests: newManifests(), features: newFeatureGate(), handBacks: newHandBacks(), restarts: newRestartWatch()}
	s.disk = &raftDisk{dir: cfg.DataDir, log: s.log}
	s.events = newEventHub(eventLimits{Write: cfg.HTTP.WriteTimeout})
	s.fsm = &fsm{st: s.store, log: s.log, ev: s.events, health: newNodeHealth(2 * max(s.autoDrainAfter(), 1))}
	var err error
	if s.raftLn = cfg.RaftListener; s.raftLn == nil {
		if s.raftLn, err = net.Listen("tcp", cfg.RaftBind); err != nil {
			return nil, fmt.Errorf("binding raft address: %w", err)
		}
	}
	if s.httpLn = cfg.HTTPListener; s.httpLn == nil {
		if s.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			s.raftLn.Close()
			return nil, fmt.Errorf("binding http address: %w", err)
		}
	}
	s.advertise = cfg.HTTPAdvertise
	if s.advertise == "" {
		scheme := "http://"
		if cfg.APITLS != nil {
			scheme = "https://"
		}
		s.advertise = scheme + s.httpLn.Addr().String()
	}
	s.metrics = newCoordMetrics()
	s.registry = newRegistry(s, s.metrics)
	return s, nil
}

// ID is this voter's id.
func (s *Server) ID() string { return s.cfg.ID }

// RaftAddr is the bound Raft transport address.
func (s *Server) RaftAddr() string { return s.raftLn.Addr().String() }

// HTTPAddr is the bound API address (host:port).
func (s *Server) HTTPAddr() string { return s.httpLn.Addr().String() }

// URL is the API base URL other coordinators forward to.
func (s *Server) URL() string { return s.advertise }

// Store is the replicated state (read-only use: tests, benchmarks, CLI
// embedding).
func (s *Server) Store() *state.Store { return s.store }

// Handler is the HTTP API (also served on HTTPAddr by Run).
func (s *Server) Handler() http.Handler {
	h := newAPI(s, apiConfig{token: s.cfg.Token, readToken: s.cfg.ReadToken, metricsToken: s.cfg.MetricsToken, log: s.log, metrics: s.registry, id: s.cfg.ID,
		forward: forwardTransport(s.cfg.ClusterTLS), secure: s.cfg.APITLS != nil, events: s.events,
		authLimit: newAuthLimiter(s.cfg.Clock, s.log), proxies: s.cfg.TrustedProxies})
	if s.cfg.ClusterTLS != nil {
		h = requireClusterCertOnForward(h)
	}
	return guardAPI(h, s.cfg.Token, advertisedHosts(s.advertise))
}

func (s *Server) getRaft() *raft.Raft {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.raft
}

// Run starts Raft, the API, membership and the leader loop, and blocks
// until ctx is cancelled or the FSM halts at what a newer release wrote
// (fsmhalt.go; Run then returns why); then it stops them all.
func (s *Server) Run(ctx context.Context) error {
	r, closeRaft, err := s.startRaft()
	if err != nil {
		s.raftLn.Close()
		s.httpLn.Close()
		return err
	}
	s.mu.Lock()
	s.raft = r
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	warnings := exposureWarnings(s.httpLn.Addr().String(), s.cfg.Token, s.cfg.APITLS != nil)
	for _, w := range append(warnings, extraTokenWarnings(s.cfg.ReadToken, s.cfg.MetricsToken, s.cfg.Token)...) {
		s.log.Warn(w)
	}
	hs := newHTTPServer(s.Handler(), s.cfg.HTTP, s.apiTLS(), s.log)
	cl := newConnLimitListener(s.httpLn, s.cfg.HTTP.MaxConns, s.cfg.HTTP.MaxConnsPerClient, s.log, s.cfg.Clock)
	if s.cfg.ProxyProtocol {
		cl.proxies = s.cfg.TrustedProxies // proxyconn.go
	}
	var ln net.Listener = cl
	if hs.TLSConfig != nil {
		ln = tls.NewListener(ln, hs.TLSConfig)
	}
	var wg sync.WaitGroup
	start := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	start(func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server", "err", err)
		}
	})
	start(func() { s.monitorLeadership(ctx) })
	if s.cfg.Etcd != nil {
		start(func() { s.registerAPI(ctx) })
		start(func() { s.watchNodes(ctx) })
	}
	if s.cfg.NATS != nil {
		start(func() { s.receiveTelemetry(ctx) }) // telemetry.go
	}
	if s.cfg.NATS != nil && s.cfg.Etcd != nil {
		start(func() { s.announceNATSLink(ctx) }) // handover.go
	}
	s.log.Info("coordinator running", "raft", s.RaftAddr(), "http", s.URL())
	select {
	case <-ctx.Done():
	case <-s.fsm.halt.done(): // fsmhalt.go: the log needs a newer release
		cancel()
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = hs.Shutdown(sctx)
	wg.Wait()
	return errors.Join(s.fsm.halt.get(), closeRaft())
}

// startRaft opens the stores, builds the transport and starts Raft,
// bootstrapping when asked and the data dir is new.
func (s *Server) startRaft() (*raft.Raft, func() error, error) {
	if err := os.MkdirAll(s.cfg.DataDir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("creating data dir: %w", err)
	}
	hl := hclogFor(s.log, s.soleVoter) // raftlog.go
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(s.cfg.DataDir, "raft.db")})
	if err != nil {
		return nil, nil, fmt.Errorf("opening raft store: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(s.cfg.DataDir, 2, hl)
	if err != nil {
		bolt.Close()
		return nil, nil, fmt.Errorf("opening snapshot store: %w", err)
	}
	var logStore raft.LogStore = bolt
	var stable raft.StableStore = bolt
	if s.cfg.raftStores != nil {
		logStore, stable = s.cfg.raftStores(bolt)
	}
	s.disk.LogStore, s.disk.stable = logStore, stable // before raft runs (raftstore.go)
	logs, err := raft.NewLogCache(512, s.disk)
	if err != nil {
		bolt.Close()
		return nil, nil, fmt.Errorf("creating log cache: %w", err)
	}
	trans := s.raftTransport(hl)
	rc := s.raftConfig(hl)
	if err := s.bootstrap(rc, logs, s.disk, snaps, trans); err != nil {
		trans.Close()
		bolt.Close()
		return nil, nil, err
	}
	r, err := raft.NewRaft(rc, s.fsm, logs, s.disk, snaps, trans)
	if err != nil {
		trans.Close()
		bolt.Close()
		// raft says only "failed to load any existing snapshots"; a
		// snapshot of a newer release says why (fsmhalt.go)
		return nil, nil, fmt.Errorf("starting raft: %w", errors.Join(err, s.fsm.halt.get()))
	}
	closeAll := func() error {
		err := r.Shutdown().Error()
		// CloseStreams drops the pooled outbound connections: Close leaves
		// them open, and each keeps a handler goroutine of its peer blocked.
		trans.CloseStreams()
		return errors.Join(err, trans.Close(), bolt.Close())
	}
	return r, closeAll, nil
}

func (s *Server) bootstrap(rc *raft.Config, logs raft.LogStore, stable raft.StableStore, snaps raft.SnapshotStore, trans raft.Transport) error {
	if !s.cfg.Bootstrap {
		return nil
	}
	has, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		return fmt.Errorf("checking raft state: %w", err)
	}
	if has {
		return nil
	}
	cfg := raft.Configuration{}
	for _, p := range s.cfg.Peers {
		cfg.Servers = append(cfg.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
	}
	if len(cfg.Servers) == 0 {
		cfg.Servers = []raft.Server{{Suffrage: raft.Voter, ID: rc.LocalID, Address: trans.LocalAddr()}}
	}
	if err := raft.BootstrapCluster(rc, logs, stable, snaps, trans, cfg); err != nil {
		return fmt.Errorf("bootstrapping raft: %w", err)
	}
	return nil
}
