package chaos

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/internal/embedded/embedtest"
	"github.com/sanafarm/sanafarm/internal/natsusers"
	"github.com/sanafarm/sanafarm/internal/s3test"
	"github.com/sanafarm/sanafarm/internal/tlstest"
	"github.com/sanafarm/sanafarm/internal/workercred"
	"github.com/sanafarm/sanafarm/storage"
)

// Farm settings: short leases so a frozen or killed node is noticed in a
// few seconds, and the secrets every process is started with.
const (
	coordinatorUser = "coordinator"
	natsPass        = "chaosNATSpassword0123456789abc" // the coordinator user's
	// workerSecret derives each node's NATS password, as the Terraform
	// module's worker_secret does (internal/workercred).
	workerSecret = "chaosWorkerSecret0123456789abcdefghij"
	apiToken     = "chaos-api-token-0123456789abcdef"
	bucket       = "chaos"
	leaseTTL     = "6s"
	// handoverAfter is the coordinators' --nats-handover-after: short, as
	// the lease TTL is, so leader-nats-cut sees a handover well within its
	// cut, but longer than a node's longest backoff (10 s) plus a request,
	// so the nodes of nats-freeze take back their "no leader answers"
	// (node/reach.go) before the thawed leader counts it.
	handoverAfter = "16s"
	// chaosMinDataFree is the coordinators' --min-data-free (64 MiB):
	// the farm's Raft data is tiny, and a CI machine's disk is sometimes
	// nearly full; the 1 GiB default would refuse the job there.
	chaosMinDataFree = "67108864"
	nodeTTL          = "3s"
	nodeCount        = 2
	voters           = 3
	// s3Stall is every process's SANAFARM_S3_STALL_TIMEOUT: a hung S3
	// request is given up and retried after it, not the default 2 min.
	s3Stall = 4 * time.Second
)

// Coord is one coordinator process and its API.
type Coord struct {
	*Proc
	ID, HTTP string
	API      *client.Client
	// Link carries its NATS traffic (a partition cuts it: leader-nats-cut).
	Link *embedtest.Proxy
}

// Node is one node process; its NATS traffic goes through Link.
type Node struct {
	*Proc
	ID   string
	Link *embedtest.Proxy
}

// Farm is a multi-process farm on loopback, configured as the droplets
// of docs/deploy.md are: etcd (TLS, client certificates), NATS (TLS, a
// password), versitygw, three coordinators (Raft on mutual TLS, HTTPS
// API) and two CPU nodes. Secrets go in the environment, never on a
// command line.
type Farm struct {
	t      testing.TB
	Bins   Bins
	Root   string
	CA     *tlstest.CA
	srv    tlstest.Files // coordinators and servers (server and client auth)
	node   tlstest.Files // nodes' etcd client certificate
	Etcd   *Proc
	NATS   *Proc
	S3     *s3test.Server
	Coords []*Coord
	Nodes  []*Node

	etcdAddr, natsAddr string
	// links are the NATS proxies of the coordinators, then of the nodes:
	// made before any address is picked for a process to bind later
	// (freeAddr), so a proxy never takes one of those ports.
	links []*embedtest.Proxy
}

// StartFarm starts every process and waits for a leader and both nodes.
func StartFarm(t testing.TB) *Farm {
	t.Helper()
	f := &Farm{t: t, Bins: Build(t), Root: t.TempDir(), CA: tlstest.NewCA(t, "chaos")}
	// Registered first, so it runs last: after every process was stopped.
	t.Cleanup(func() { checkLogsClean(t, f.sanafarmProcs()) })
	f.srv, f.node = f.CA.Server(t, "server"), f.CA.Client(t, "node")
	f.startEtcd()
	f.startNATS()
	for range voters + nodeCount {
		f.links = append(f.links, embedtest.StartProxy(t, f.natsAddr))
	}
	f.S3 = s3test.Start(t, bucket)
	f.startCoordinators()
	for _, c := range f.Coords { // bound before the nodes bind ports of their own choosing
		f.waitTCP(c.Proc, c.HTTP)
	}
	for i := range nodeCount {
		f.startNode(i)
	}
	f.WaitLeader(60 * time.Second)
	f.WaitNodes(60*time.Second, nodeCount)
	return f
}

func (f *Farm) dir(name string) string {
	d := filepath.Join(f.Root, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		f.t.Fatal(err)
	}
	return d
}

// etcdQuota is the farm's etcd quota (--quota-backend-bytes): room for
// every scenario's writes, small enough for etcd-full to fill quickly.
const etcdQuota = 64 << 20

func (f *Farm) startEtcd() {
	client, peer := freeAddr(f.t), freeAddr(f.t)
	f.etcdAddr = client
	f.Etcd = StartProc(f.t, "etcd", []string{f.Bins.Etcd, "--name", "e0", "--data-dir", f.dir("etcd"),
		"--listen-client-urls", "https://" + client, "--advertise-client-urls", "https://" + client,
		"--cert-file", f.srv.Cert, "--key-file", f.srv.Key, "--client-cert-auth", "--trusted-ca-file", f.CA.File,
		"--listen-peer-urls", "http://" + peer, "--initial-advertise-peer-urls", "http://" + peer,
		"--initial-cluster", "e0=http://" + peer, "--log-level", "warn",
		"--quota-backend-bytes", strconv.Itoa(etcdQuota)}, nil)
	f.waitTCP(f.Etcd, client)
}

func (f *Farm) startNATS() {
	f.natsAddr = freeAddr(f.t)
	host, port, _ := net.SplitHostPort(f.natsAddr)
	// Role users with subject permissions, as a deployed coordinator's
	// auth.conf; passwords in the config file, not on a command line.
	conf := filepath.Join(f.dir("nats"), "nats.conf")
	if err := os.WriteFile(conf, natsAuthConf(), 0o600); err != nil {
		f.t.Fatal(err)
	}
	f.NATS = StartProc(f.t, "nats", []string{f.Bins.NATS, "-a", host, "-p", port, "-c", conf,
		"--tls", "--tlscert", f.srv.Cert, "--tlskey", f.srv.Key}, nil)
	f.waitTCP(f.NATS, f.natsAddr)
}

// natsAuthConf is the NATS authorization block the deploy's coordinators
// write with sanafarm nats-auth: the coordinator user and a user per
// node, each password derived from workerSecret.
func natsAuthConf() []byte {
	workers, err := workercred.Derive(workerSecret, workercred.NATS, "n", nodeCount)
	if err != nil {
		panic(err) // constants
	}
	var b bytes.Buffer
	if err := natsusers.Render(&b, natsusers.Config{CoordinatorPassword: natsPass, Workers: workers}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// natsPassword is the NATS password of user.
func natsPassword(user string) string {
	if user == coordinatorUser {
		return natsPass
	}
	return workercred.Password(workerSecret, workercred.NATS, user)
}

// env is a coordinator's or node's environment: the NATS URL with its
// user's password (through natsAddr), the API token, the S3 configuration
// (outputs, manifests; the stall timeout s3Stall), the cluster CA as a
// trusted root (NATS TLS, as cloud-init installs it) and a private TMPDIR.
func (f *Farm) env(name, user, natsAddr string) []string {
	return []string{"SANAFARM_NATS_URL=tls://" + user + ":" + natsPassword(user) + "@" + natsAddr,
		"SANAFARM_TOKEN=" + apiToken, "SANAFARM_METRICS_TOKEN=" + metricsToken, "SSL_CERT_FILE=" + f.CA.File,
		"AWS_ACCESS_KEY_ID=" + s3test.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3test.SecretKey,
		"AWS_REGION=" + s3test.Region, "S3_ENDPOINT=" + f.S3.Endpoint(),
		storage.EnvS3StallTimeout + "=" + s3Stall.String(), "TMPDIR=" + f.dir("tmp/"+name)}
}

func (f *Farm) startCoordinators() {
	raft := make([]string, voters)
	peers := make([]string, voters)
	for i := range voters {
		raft[i] = freeAddr(f.t)
		peers[i] = fmt.Sprintf("c%d=%s", i, raft[i])
	}
	for i := range voters {
		id, http := fmt.Sprintf("c%d", i), freeAddr(f.t)
		link := f.links[i]
		p := StartProc(f.t, id, append([]string{f.Bins.Sanafarm, "coordinator", "--id", id, "--data", f.dir(id),
			"--bootstrap", "--peers", strings.Join(peers, ","), "--raft-bind", raft[i], "--http", http,
			"--etcd", "https://" + f.etcdAddr, "--etcd-ca", f.CA.File, "--etcd-cert", f.srv.Cert, "--etcd-key", f.srv.Key,
			"--cluster-ca", f.CA.File, "--cluster-cert", f.srv.Cert, "--cluster-key", f.srv.Key,
			"--tls-cert", f.srv.Cert, "--tls-key", f.srv.Key, "--lease-ttl", leaseTTL, "--nats-handover-after", handoverAfter, "--log-level", "info",
			"--min-data-free", chaosMinDataFree},
			f.Bins.allowWrite("coordinator", "s3://"+bucket)...), f.env(id, coordinatorUser, link.Addr()))
		api := client.New("https://"+http, apiToken, client.WithTLS(&tls.Config{RootCAs: f.CA.Pool()}))
		f.Coords = append(f.Coords, &Coord{Proc: p, ID: id, HTTP: http, API: api, Link: link})
	}
}

func (f *Farm) startNode(i int) {
	id := fmt.Sprintf("n%d", i)
	link := f.links[voters+i]
	args := []string{f.Bins.Sanafarm, "node", "--id", id, "--etcd", "https://" + f.etcdAddr, "--etcd-ca", f.CA.File,
		"--etcd-cert", f.node.Cert, "--etcd-key", f.node.Key, "--backend", "cpu", "--threads", "1", "--poll-interval", "250ms", "--node-ttl", nodeTTL,
		"--drain-timeout", "2s", "--cache", ModelCache(f.t), "--log-level", "info",
		"--metrics-addr", "127.0.0.1:0"} // several nodes share this host: not the default :9464
	args = append(args, f.Bins.allowWrite("node", "s3://"+bucket)...)
	p := StartProc(f.t, id, args, f.env(id, id, link.Addr()))
	f.Nodes = append(f.Nodes, &Node{Proc: p, ID: id, Link: link})
}

// ModelCache is the sana-tiny cache every node of this test process
// shares (written once by the first node).
func ModelCache(t testing.TB) string {
	t.Helper()
	Build(t)
	return filepath.Join(BinDir, "cache")
}

// waitTCP waits until addr accepts connections.
func (f *Farm) waitTCP(p *Proc, addr string) {
	f.t.Helper()
	f.waitUntil(30*time.Second, "port "+addr+" of "+p.Name, func() bool {
		if exited, err := p.Exited(); exited {
			f.t.Fatalf("%s exited: %v\n%s", p.Name, err, p.Logs())
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, p)
}

// waitUntil polls ok every 100 ms until it holds, failing the test after
// limit (with the logs of procs).
func (f *Farm) waitUntil(limit time.Duration, what string, ok func() bool, procs ...*Proc) {
	f.t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out after %v waiting for %s\n%s", limit, what, logsOf(procs))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func logsOf(procs []*Proc) string {
	var b strings.Builder
	for _, p := range procs {
		b.WriteString(p.Logs())
		b.WriteString("\n")
	}
	return b.String()
}

// sanafarmProcs lists the farm's coordinators and nodes.
func (f *Farm) sanafarmProcs() []*Proc {
	var ps []*Proc
	for _, c := range f.Coords {
		ps = append(ps, c.Proc)
	}
	for _, n := range f.Nodes {
		ps = append(ps, n.Proc)
	}
	return ps
}

// AllProcs lists every process of the farm (for failure logs).
func (f *Farm) AllProcs() []*Proc {
	return append([]*Proc{f.Etcd, f.NATS}, f.sanafarmProcs()...)
}

// Leader returns the coordinator that says it leads (nil if none does).
func (f *Farm) Leader() *Coord {
	for _, c := range f.Coords {
		if !c.Running() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		h, err := c.API.Health(ctx)
		cancel()
		if err == nil && h.Role == "leader" {
			return c
		}
	}
	return nil
}

// WaitLeader waits for a leader and returns it with the time waited.
func (f *Farm) WaitLeader(limit time.Duration) (*Coord, time.Duration) {
	f.t.Helper()
	start := time.Now()
	var l *Coord
	f.waitUntil(limit, "a Raft leader", func() bool { l = f.Leader(); return l != nil }, f.AllProcs()...)
	return l, time.Since(start)
}

// WaitNodes waits until the leader lists n live nodes.
func (f *Farm) WaitNodes(limit time.Duration, n int) {
	f.t.Helper()
	f.waitUntil(limit, strconv.Itoa(n)+" live nodes", func() bool {
		l := f.Leader()
		if l == nil {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		nodes, err := l.API.Nodes(ctx)
		live := 0
		for _, nd := range nodes {
			if nd.Live {
				live++
			}
		}
		return err == nil && live >= n
	}, f.AllProcs()...)
}

// freeAddr is embedtest.FreeAddr.
func freeAddr(t testing.TB) string { return embedtest.FreeAddr(t) }
