package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sanafarm/sanafarm/coordinator"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// coordinatorFlags are the options of `sanafarm coordinator`.
type coordinatorFlags struct {
	id, data, raftBind, httpAddr, advertise string
	peers, natsURL, etcd, token, logLevel   string
	metricsToken, readToken, proxies        string
	bootstrap, proxyProtocol                bool
	leaseTTL, handoverAfter                 time.Duration
	autoDrain                               int
	allow                                   allowFlags
	cluster                                 clusterTLSFlags
	apiTLS                                  apiTLSFlags
	etcdTLS                                 etcdTLSFlags
	raft                                    coordinator.RaftTimeouts
	http                                    coordinator.HTTPLimits
	maxJobBytes, minDataFree                int64
	retention                               retentionFlags
}

func newCoordinatorCmd() *cobra.Command {
	var f coordinatorFlags
	cmd := &cobra.Command{
		Use:   "coordinator --id ID --data DIR --raft-bind ADDR --nats URL --etcd ENDPOINTS [flags]",
		Short: "Run one coordinator (a Raft voter of the control plane)",
		Long: `coordinator runs one voter of the farm's control plane: the Raft-replicated job
and shard state, the HTTP API (/v1/jobs, /v1/nodes, /v1/health, /metrics) and,
while it is the leader, the node traffic over NATS. Run 3 or 5 of them against
the same etcd and NATS clusters.

A new cluster is bootstrapped once: start every voter with --bootstrap and the
same --peers list (id=raft-address, this voter included). Later restarts reuse
the Raft state in --data and ignore --bootstrap. --raft-bind must be the
address the other voters dial (the one named in --peers).

Clients may call any coordinator: reads are answered locally and writes are
forwarded to the leader (each coordinator publishes its API URL in etcd; set
--advertise when the bound address is not reachable by the others).

A job is accepted only if its prompt file lies under an --allow-read root and
its output under an --allow-write root (give the nodes' lists: the nodes check
again, and the leader writes each job's manifest into its output). Without
them every job is refused.

Security (docs/deploy.md): --cluster-ca/--cluster-cert/--cluster-key put
Raft and forwarded writes on mutual TLS (without them Raft is plaintext and
unauthenticated: development only); --tls-cert/--tls-key serve the API over
HTTPS; --etcd-ca/--etcd-cert/--etcd-key are etcd's client TLS.

Example (voter c1 of three):
  sanafarm coordinator --id c1 --data /var/lib/sanafarm --bootstrap \
    --peers c1=10.0.0.1:7701,c2=10.0.0.2:7701,c3=10.0.0.3:7701 \
    --raft-bind 10.0.0.1:7701 --http 10.0.0.1:7700 \
    --nats nats://10.0.0.9:4222 --etcd 10.0.0.9:2379 \
    --allow-read s3://datasets/prompts --allow-write s3://datasets/images`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCoordinator(cmd.Context(), f, cmd.ErrOrStderr())
		},
	}
	f.register(cmd.Flags())
	_ = cmd.MarkFlagRequired("data")
	_ = cmd.MarkFlagRequired("raft-bind")
	return cmd
}

// register declares the coordinator flags on fl.
func (f *coordinatorFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.id, "id", "", "this voter's id (unique in the cluster; default: the hostname)")
	fl.StringVar(&f.data, "data", "", "data directory (Raft log, stable store, snapshots)")
	fl.StringVar(&f.raftBind, "raft-bind", "", "Raft transport address host:port (the address other voters dial)")
	fl.StringVar(&f.httpAddr, "http", "127.0.0.1:7700", "HTTP API address host:port")
	fl.StringVar(&f.advertise, "advertise", "", "API base URL other coordinators forward writes to (default http(s)://<--http address>)")
	fl.BoolVar(&f.bootstrap, "bootstrap", false, "bootstrap a new cluster of --peers (ignored when --data holds Raft state)")
	fl.StringVar(&f.peers, "peers", "", "voters of a new cluster: id=host:port,... (this voter included; empty with --bootstrap: a one-voter cluster)")
	fl.StringVar(&f.natsURL, "nats", "", "NATS URL (node traffic)"+natsFlagHelp)
	fl.StringVar(&f.etcd, "etcd", "127.0.0.1:2379", "etcd endpoints, comma-separated (node membership, API addresses)")
	fl.StringVar(&f.token, "token", "", "API bearer token (default $SANAFARM_TOKEN; empty: no auth)")
	fl.StringVar(&f.readToken, "read-token", "", "a second bearer token that may read but not write (default $"+readTokenEnv+"; empty: none)")
	fl.StringVar(&f.metricsToken, "metrics-token", "", "bearer token /metrics asks for besides the API token (default $"+metricsTokenEnv+"; empty: public)")
	fl.DurationVar(&f.leaseTTL, "lease-ttl", coordinator.DefaultLeaseTTL, "task lease: a shard without progress this long is requeued")
	fl.DurationVar(&f.handoverAfter, "nats-handover-after", coordinator.DefaultNATSHandoverAfter,
		"a leader cut off from NATS this long hands the leadership to a voter that reaches it (0: never; at least 2s)")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.IntVar(&f.autoDrain, "auto-drain-after", coordinator.DefaultAutoDrainAfter,
		"drain a node after this many failed shards in a row that then succeeded on other nodes (0: never; undrain it by hand)")
	f.allow.register(fl, "default: none, so every job is refused at submit")
	f.cluster.register(fl)
	f.apiTLS.register(fl)
	f.etcdTLS.register(fl)
	registerRaftTimeouts(fl, &f.raft)
	fl.Int64Var(&f.maxJobBytes, "max-job-bytes", coordinator.DefaultMaxJobBytes,
		"job specs (inline prompts included) the state holds at most, finished jobs included; a submit past it is refused (0: no bound)")
	fl.Int64Var(&f.minDataFree, "min-data-free", coordinator.DefaultMinDataFree,
		"bytes the --data dir's disk keeps free for the Raft log: while a submit would leave less, the leader refuses it (0: no check)")
	fl.IntVar(&f.http.MaxConns, "max-conns", coordinator.DefaultHTTPLimits.MaxConns, "open API connections at most, in all")
	fl.IntVar(&f.http.MaxConnsPerClient, "max-conns-per-client", coordinator.DefaultHTTPLimits.MaxConnsPerClient,
		"open API connections at most per client address (behind a load balancer without --proxy-protocol, every client is the balancer)")
	fl.StringVar(&f.proxies, "trusted-proxies", "", "`CIDRs` (comma-separated) whose X-Forwarded-For names the client, for the wrong-token throttle and the logs: the load balancer's network (empty: believed from no one)")
	fl.BoolVar(&f.proxyProtocol, "proxy-protocol", false,
		"connections from --trusted-proxies may open with a PROXY protocol header (v1 or v2) naming their client, counted per client from then on (a load balancer's enable_proxy_protocol)")
	f.retention.register(fl)
}

// maxAutoDrainAfter bounds --auto-drain-after (each tracked node keeps
// twice as many failures in memory).
const maxAutoDrainAfter = 100

// zeroMeansOff maps a flag's 0 ("never", "no bound": --auto-drain-after,
// --nats-handover-after, --max-job-bytes) to the coordinator Config's
// negative, whose 0 means the default.
func zeroMeansOff[T ~int | ~int64](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// readTokenEnv holds the read-only token when --read-token is not given
// (out of the process list, like $SANAFARM_TOKEN).
const readTokenEnv = "SANAFARM_READ_TOKEN"

// parseProxies reads --trusted-proxies: CIDRs or single addresses.
func parseProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range splitList(s) {
		p, err := netip.ParsePrefix(e)
		if err != nil {
			a, aerr := netip.ParseAddr(e)
			if aerr != nil {
				return nil, usagef("--trusted-proxies entry %q: want a CIDR such as 10.10.0.0/16 or an address", e)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Bits() == 0 {
			// Every client could then choose the address its wrong
			// tokens count against, and the throttle would hold no one.
			return nil, usagef("--trusted-proxies entry %q trusts every address: list the proxy's network", e)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// parsePeers reads id=host:port,...
func parsePeers(s string) ([]coordinator.Peer, error) {
	var peers []coordinator.Peer
	for _, p := range splitList(s) {
		id, addr, ok := strings.Cut(p, "=")
		if !ok || id == "" || addr == "" {
			return nil, usagef("--peers entry %q: want id=host:port", p)
		}
		peers = append(peers, coordinator.Peer{ID: id, Addr: addr})
	}
	return peers, nil
}

func runCoordinator(ctx context.Context, f coordinatorFlags, stderr io.Writer) error {
	log, err := newLogger(stderr, f.logLevel)
	if err != nil {
		return err
	}
	peers, err := parsePeers(f.peers)
	if err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	proxies, err := parseProxies(f.proxies)
	if err != nil {
		return err
	}
	if f.proxyProtocol && len(proxies) == 0 {
		return usagef("--proxy-protocol needs --trusted-proxies: a PROXY header is believed only from the proxies' networks")
	}
	if len(proxies) > 0 {
		log.Info("API clients behind these proxies are told apart by X-Forwarded-For", "trusted_proxies", proxies, "proxy_protocol", f.proxyProtocol)
	}
	if err := storage.CheckS3Env(); err != nil {
		return usage(err) // else every manifest written to S3 would fail on it
	}
	allow, err := f.allow.access()
	if err != nil {
		return err
	}
	logAccess(log, "coordinator", allow)
	sec, err := f.security()
	if err != nil {
		return err
	}
	if f.id == "" {
		f.id = hostnameID()
	}
	nc, err := connectNATS(natsURLOrEnv(f.natsURL), "sanafarm-coordinator-"+f.id, log)
	if err != nil {
		return failed(stderr, err)
	}
	defer nc.Close()
	etcd, err := connectEtcd(ctx, f.etcd, sec.etcd)
	if err != nil {
		return failed(stderr, err)
	}
	defer etcd.Close()
	srv, err := coordinator.New(coordinator.Config{ID: f.id, DataDir: f.data, RaftBind: f.raftBind,
		Bootstrap: f.bootstrap, Peers: peers, HTTPAddr: f.httpAddr, HTTPAdvertise: f.advertise, NATS: nc, Etcd: etcd,
		Token:     firstOf(f.token, os.Getenv("SANAFARM_TOKEN")),
		ReadToken: firstOf(f.readToken, os.Getenv(readTokenEnv)), MetricsToken: firstOf(f.metricsToken, os.Getenv(metricsTokenEnv)),
		LeaseTTL: f.leaseTTL, NATSHandoverAfter: zeroMeansOff(f.handoverAfter), Allow: &allow, Logger: log,
		ClusterTLS: sec.cluster, APITLS: sec.api, Raft: f.raft, HTTP: f.http, TrustedProxies: proxies, ProxyProtocol: f.proxyProtocol, MaxJobBytes: zeroMeansOff(f.maxJobBytes),
		MinDataFree: zeroMeansOff(f.minDataFree), JobRetention: f.retention.age, JobRetentionCount: f.retention.count, AutoDrainAfter: zeroMeansOff(f.autoDrain)})
	if err != nil {
		return failed(stderr, fmt.Errorf("starting coordinator: %w", err))
	}
	log.Info("coordinator starting", "id", f.id, "raft", srv.RaftAddr(), "api", srv.URL())
	if err := srv.Run(ctx); err != nil {
		return failed(stderr, fmt.Errorf("running coordinator: %w", err))
	}
	return nil
}

// check refuses flag values the coordinator would misuse: bounds, signs
// and the tokens' strength.
func (f coordinatorFlags) check() error {
	if err := f.retention.check(); err != nil {
		return err
	}
	if f.autoDrain < 0 || f.autoDrain > maxAutoDrainAfter {
		return usagef("--auto-drain-after %d: want 0 (never) to %d", f.autoDrain, maxAutoDrainAfter)
	}
	if f.handoverAfter < 0 || f.maxJobBytes < 0 || f.minDataFree < 0 || f.http.MaxConns < 0 || f.http.MaxConnsPerClient < 0 {
		return usagef("--nats-handover-after %v, --max-job-bytes %d, --min-data-free %d, --max-conns %d, --max-conns-per-client %d: none may be negative",
			f.handoverAfter, f.maxJobBytes, f.minDataFree, f.http.MaxConns, f.http.MaxConnsPerClient)
	}
	return checkTokens(map[string]string{"--token ($SANAFARM_TOKEN)": firstOf(f.token, os.Getenv("SANAFARM_TOKEN")),
		"--read-token ($" + readTokenEnv + ")":       firstOf(f.readToken, os.Getenv(readTokenEnv)),
		"--metrics-token ($" + metricsTokenEnv + ")": firstOf(f.metricsToken, os.Getenv(metricsTokenEnv))})
}

// coordinatorTLS are the loaded TLS configs of a coordinator.
type coordinatorTLS struct{ cluster, api, etcd *tls.Config }

// security checks the Raft timeouts and loads the TLS flags (usage
// errors: a flag is wrong before anything starts). With cluster TLS the
// API must be HTTPS too: a forwarded write carries the client's token.
func (f coordinatorFlags) security() (coordinatorTLS, error) {
	var c coordinatorTLS
	if err := f.raft.Validate(); err != nil {
		return c, usagef("--raft-*-timeout: %w", err)
	}
	var err error
	if c.cluster, err = f.cluster.config(); err != nil {
		return c, err
	}
	if c.api, err = f.apiTLS.config(); err != nil {
		return c, err
	}
	if c.cluster != nil && c.api == nil {
		return c, usagef("--cluster-ca needs --tls-cert and --tls-key: followers forward writes, bearer token included, to the leader's API over mutual TLS")
	}
	if c.cluster != nil && strings.HasPrefix(f.advertise, "http://") {
		return c, usagef("--advertise %s: want an https URL with cluster TLS", f.advertise)
	}
	c.etcd, err = f.etcdTLS.config()
	return c, err
}

// hostnameID is the hostname-based id ("sanafarm" when it cannot be read).
func hostnameID() string { return protocol.HostnameID("sanafarm") }
