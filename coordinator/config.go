package coordinator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/coordinator/scheduler"
	"github.com/sanafarm/sanafarm/internal/bearer"
	"github.com/sanafarm/sanafarm/protocol"
)

// Peer is one Raft voter.
type Peer struct {
	ID   string `json:"id"`
	Addr string `json:"addr"` // host:port of its Raft transport
}

// PickFunc chooses the leases for a lease request: up to req.Free tasks,
// attempt = current + 1, deadline = now + lease TTL. The default is
// (*scheduler.Scheduler).Pick; tests may set a simpler one.
type PickFunc func(st SchedulerState, req protocol.LeaseRequest, now time.Time) []protocol.TaskNext

// SchedulerState is the read-only view a PickFunc consumes
// ((*state.Store).View()). It reads the live store: the FSM re-checks
// every lease (task still queued, attempt = current + 1), so a pick that
// raced an apply only loses that lease.
type SchedulerState = scheduler.State

// ContextDialer opens a network connection (*net.Dialer is one).
type ContextDialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Config configures a coordinator.
type Config struct {
	// ID is this voter's Raft server id (unique in the cluster).
	ID string
	// DataDir holds raft.db (logs, stable store) and snapshots/.
	DataDir string
	// RaftBind is the TCP address of the Raft transport ("127.0.0.1:0"
	// allowed; see Server.RaftAddr). RaftListener, when set, is used
	// instead (tests allocate every voter's listener before bootstrapping).
	RaftBind     string
	RaftListener net.Listener
	// RaftDialer opens the connections to the other voters (default: a
	// net.Dialer). A proxy or a test that cuts links between voters — a
	// network partition, coordinator/partition_test.go — plugs in here;
	// mutual TLS, when configured, runs over what it returns.
	RaftDialer ContextDialer
	// Bootstrap a new cluster whose voters are Peers (this server included;
	// empty Peers = a one-voter cluster of this server). Ignored when
	// DataDir already holds Raft state.
	Bootstrap bool
	Peers     []Peer
	// HTTPAddr is the API address (":0" allowed; see Server.HTTPAddr), or
	// HTTPListener. HTTPAdvertise is the base URL other coordinators use
	// to forward writes here (default http://<bound address>).
	HTTPAddr      string
	HTTPListener  net.Listener
	HTTPAdvertise string
	// NATS carries node traffic (nil: no node traffic). The caller owns it.
	NATS *nats.Conn
	// Etcd holds node announcements and coordinator API addresses (nil: no
	// node watch, followers cannot forward writes). The caller owns it.
	Etcd *clientv3.Client
	// Token is the bearer token of the API ("" = no auth).
	Token string
	// ReadToken, when set, is a bearer token that may read what Token
	// reads and write nothing (api_read.go); it needs Token, and differs
	// from it.
	ReadToken string
	// MetricsToken, when set, is the bearer token /metrics asks for (the
	// API and read tokens pass too); "" leaves /metrics public
	// (api_metrics.go).
	MetricsToken string
	// Allow is where jobs may name prompt files (Read) and outputs
	// (Write), checked at submit (see checkAllowed); nil checks nothing.
	Allow *protocol.Access
	// LeaseTTL is how long a task lease lasts without progress (default 30 s).
	LeaseTTL time.Duration
	// NATSHandoverAfter is how long the leader's NATS link stays down
	// before it hands the leadership to a voter that reaches NATS
	// (handover.go; 0 = DefaultNATSHandoverAfter, negative = never).
	NATSHandoverAfter time.Duration
	// ProgressInterval is how often buffered progress is committed and
	// expired leases are scanned (default 500 ms).
	ProgressInterval time.Duration
	// Scheduler configures the default scheduler (its LeaseTTL defaults to
	// LeaseTTL); Pick, when set, replaces it.
	Scheduler scheduler.Config
	Pick      PickFunc
	// GangTimeout is how long a parallel task's gang may take to gather
	// its nodes before it is released (default 10 s); GangHold is how
	// long a member's lease request is held waiting for it (default 1 s,
	// keep it below the nodes' request timeout).
	GangTimeout, GangHold time.Duration
	// ClusterTLS is the mutual TLS of the Raft transport and of writes
	// forwarded between coordinators (LoadClusterTLS); nil = plaintext and
	// unauthenticated (development only: logged as a warning).
	ClusterTLS *tls.Config
	// APITLS, when set, serves the API over HTTPS (its Certificates).
	APITLS *tls.Config
	// HTTP bounds the API server's connections (zero fields: defaults).
	HTTP HTTPLimits
	// TrustedProxies are the networks whose X-Forwarded-For names the
	// client (the load balancer's; realclient.go). Empty: the header is
	// believed from no one.
	TrustedProxies []netip.Prefix
	// ProxyProtocol: connections from TrustedProxies may open with a PROXY
	// protocol header naming their client, whose address they then have,
	// connection bounds included (proxyconn.go). Needs TrustedProxies.
	ProxyProtocol bool
	// Raft are the Raft timeouts (zero fields: DefaultRaftTimeouts).
	Raft RaftTimeouts
	// JobRetention and JobRetentionCount bound the finished jobs kept in
	// the state: older than JobRetention, or beyond the newest
	// JobRetentionCount, they are deleted (0 = no bound; gc.go).
	// JobGCInterval is how often the leader checks (default 1 min).
	JobRetention      time.Duration
	JobRetentionCount int
	JobGCInterval     time.Duration
	// MaxJobBytes bounds the job specs the state holds, finished jobs
	// included: a submit past it is refused (room.go; 0 =
	// DefaultMaxJobBytes, negative = no bound).
	MaxJobBytes int64
	// MinDataFree is the free space DataDir's disk keeps: the leader
	// refuses a submit that would leave less (datadisk.go; 0 =
	// DefaultMinDataFree, negative = no check).
	MinDataFree int64
	// diskFree reads the free space of DataDir's disk (nil: the file
	// system's own figure); package tests stand in a nearly full disk.
	diskFree func(dir string) (int64, error)
	// dataDiskEvery is how often the free space is published in etcd
	// (0: dataDiskEvery, datadisk_voters.go); package tests shorten it.
	dataDiskEvery time.Duration
	// raftStores wraps the Raft log and stable stores (nil: the bolt
	// store itself); package tests stand in a disk that fills up.
	raftStores func(*raftboltdb.BoltStore) (raft.LogStore, raft.StableStore)
	// AutoDrainAfter is how many failed shards in a row, each of which then
	// completed on another node, make the leader drain a node
	// (autodrain.go; 0 = DefaultAutoDrainAfter, negative = never).
	AutoDrainAfter int
	// SnapshotThreshold and SnapshotInterval tune Raft snapshots (0 = raft
	// defaults).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	Logger            *slog.Logger
	Clock             func() time.Time
}

// Defaults.
const (
	DefaultLeaseTTL         = 30 * time.Second
	DefaultProgressInterval = 500 * time.Millisecond
	DefaultGangTimeout      = 10 * time.Second
	DefaultGangHold         = time.Second
	// DefaultNATSHandoverAfter: a NATS reconnect takes a second or two, so
	// a link down this long is no blip, and meanwhile the farm stands
	// still. The election it costs loses at most one progress interval of
	// buffered progress, and every lease gets a TTL of grace.
	DefaultNATSHandoverAfter = 20 * time.Second
	// MinNATSHandoverAfter keeps one slow reconnect or one missed probe
	// (natsProbe, handover.go) from costing an election.
	MinNATSHandoverAfter = 2 * time.Second
)

func (c *Config) setDefaults() error {
	if c.ID == "" {
		return errors.New("config: ID is required")
	}
	if c.DataDir == "" {
		return errors.New("config: DataDir is required")
	}
	if c.RaftBind == "" && c.RaftListener == nil {
		return errors.New("config: RaftBind or RaftListener is required")
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.NATSHandoverAfter == 0 {
		c.NATSHandoverAfter = DefaultNATSHandoverAfter
	}
	if c.NATSHandoverAfter > 0 && c.NATSHandoverAfter < MinNATSHandoverAfter {
		return fmt.Errorf("config: NATSHandoverAfter %v is shorter than %v: one slow reconnect would cost an election", c.NATSHandoverAfter, MinNATSHandoverAfter)
	}
	if c.JobGCInterval <= 0 {
		c.JobGCInterval = DefaultJobGCInterval
	}
	if c.MaxJobBytes == 0 {
		c.MaxJobBytes = DefaultMaxJobBytes
	}
	if c.MinDataFree == 0 {
		c.MinDataFree = DefaultMinDataFree
	}
	if c.GangTimeout <= 0 {
		c.GangTimeout = DefaultGangTimeout
	}
	if c.GangHold <= 0 {
		c.GangHold = DefaultGangHold
	}
	if c.Pick == nil {
		sc := c.Scheduler
		if sc.LeaseTTL <= 0 {
			sc.LeaseTTL = c.LeaseTTL
		}
		c.Pick = scheduler.New(sc).Pick
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.HTTPAddr == "" && c.HTTPListener == nil {
		c.HTTPAddr = "127.0.0.1:0"
	}
	if err := checkReadToken(c.ReadToken, c.Token); err != nil {
		return err
	}
	if c.ProxyProtocol && len(c.TrustedProxies) == 0 {
		return errors.New("config: ProxyProtocol needs TrustedProxies: a PROXY header is believed only from the proxies' networks")
	}
	if err := bearer.Check("config: MetricsToken", c.MetricsToken); err != nil {
		return err
	}
	c.HTTP = c.HTTP.withDefaults()
	c.Raft = c.Raft.withDefaults()
	if err := c.Raft.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	for _, p := range c.Peers {
		if p.ID == "" || p.Addr == "" {
			return fmt.Errorf("config: peer %+v needs an id and an address", p)
		}
	}
	return nil
}
