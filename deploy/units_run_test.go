package deploy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/sanafarm/sanafarm/internal/embedded/embedtest"
	"github.com/sanafarm/sanafarm/internal/metrics/metricstest"
	"github.com/sanafarm/sanafarm/internal/syncbuf"
)

// TestUnitsRunLocally starts the coordinator and node units' ExecStart
// lines (rendered as systemd would, with the environment files cloud-init
// writes, adapted to loopback and temp dirs) as local processes against
// NATS and etcd configured like the droplets' (TLS with the cluster CA,
// NATS password auth, etcd client certificates), with the units' TLS
// flags (Raft mutual TLS, HTTPS API), runs a job through them over HTTPS
// and stops both with SIGTERM within their TimeoutStopSec.
func TestUnitsRunLocally(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the farm's processes (-short)")
	}
	bin := sanafarmBinary(t)
	certs := writeTestTLS(t)
	natsURL := startTLSNATS(t, certs, "sanafarm", sampleNATSPassword)
	etcdEP := startTLSEtcd(t, certs)
	root := t.TempDir()
	api := freeAddr(t)
	common := map[string]string{
		"SANAFARM_NATS_URL": strings.Replace(natsURL, "tls://", "tls://sanafarm:"+sampleNATSPassword+"@", 1),
		"SANAFARM_ETCD":     etcdEP,
		"SANAFARM_TOKEN":    sampleToken,
		// Both units read the metrics token from secrets.env.
		"SANAFARM_METRICS_TOKEN": sampleMetricsToken,
		// cloud-init's ca_certs puts the CA in the system trust store; Go
		// reads SSL_CERT_FILE the same way.
		"SSL_CERT_FILE": certs.CA,
	}
	raft := freeAddr(t)
	outDir := t.TempDir()
	// Jobs may write only under --allow-write roots (operators add theirs
	// through SANAFARM_FLAGS).
	allow := ""
	if helpFlags(t, "coordinator")["allow-write"] {
		allow = " --allow-write " + outDir
	}
	coord := startUnit(t, "sanafarm-coordinator.service", bin, root, certs.Dir, merge(common, map[string]string{
		"SANAFARM_ID": "c0", "SANAFARM_PEERS": "c0=" + raft, "SANAFARM_RAFT_BIND": raft, "SANAFARM_HTTP": api,
		"SANAFARM_ADVERTISE": "https://" + api, "SANAFARM_FLAGS": "--log-level info" + allow}))
	waitFor(t, coord, "the coordinator to lead", func() bool { return health(api, certs.CA) == "leader" })
	nodeMetrics := freeAddr(t)
	node := startUnit(t, "sanafarm-node.service", bin, root, certs.Dir, merge(common, map[string]string{
		"SANAFARM_ID": "unit-node", "SANAFARM_BACKEND": "cpu", "SANAFARM_DEVICES": "0", "SANAFARM_MODEL_MIRROR": "",
		"SANAFARM_FLAGS": "--poll-interval 250ms --metrics-addr " + nodeMetrics + allow}))
	addr := []string{"--addr", "https://" + api, "--ca-cert", certs.CA, "--token", sampleToken}
	waitFor(t, node, "the node to be listed", func() bool {
		out, err := exec.Command(bin, append([]string{"nodes"}, addr...)...).Output()
		return err == nil && strings.Contains(string(out), "unit-node")
	})
	out, err := exec.Command(bin, append(append([]string{"submit"}, addr...), "--model", "sana-tiny",
		"-p", "a lighthouse", "--steps", "2", "--width", "128", "--height", "128", "--dest", outDir, "--wait", "-q")...).CombinedOutput()
	if err != nil {
		t.Fatalf("submit through the units: %v\n%s\n%s", err, out, node.logs())
	}
	for _, u := range []string{"https://" + api + "/metrics", "http://" + nodeMetrics + "/metrics"} {
		if got := scrape(t, u, certs.CA, ""); got != http.StatusUnauthorized {
			t.Errorf("%s without the metrics token: %d, want 401", u, got)
		}
		if got := scrape(t, u, certs.CA, sampleMetricsToken); got != http.StatusOK {
			t.Errorf("%s with the metrics token: %d, want 200", u, got)
		}
	}
	node.stop(t)
	coord.stop(t)
}

// scrape GETs url (trusting caFile) with token as the bearer token ("":
// none) and returns the status.
func scrape(t *testing.T, url, caFile, token string) int {
	t.Helper()
	hc, err := caClient(caFile)
	if err != nil {
		t.Fatal(err)
	}
	auth := ""
	if token != "" {
		auth = "Bearer " + token
	}
	return metricstest.Get(t, hc, url, auth).Status
}

// caClient is an HTTP client trusting the CA in caFile.
func caClient(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, nil
}

// unitProc is a unit's ExecStart running as a local process.
type unitProc struct {
	name    string
	cmd     *exec.Cmd
	timeout time.Duration
	out     *syncbuf.Buffer
	done    chan error
}

func (p *unitProc) logs() string {
	return p.name + " log:\n" + p.out.Tail(4000)
}

// startUnit runs the unit's ExecStart with env, the binary path,
// /var/lib/sanafarm and /etc/sanafarm/tls replaced by bin, root and tls.
func startUnit(t *testing.T, name, bin, root, tls string, env map[string]string) *unitProc {
	t.Helper()
	u, _ := readUnit(t, name)
	fix := strings.NewReplacer("/usr/local/bin/sanafarm", bin, "/var/lib/sanafarm", root, "/etc/sanafarm/tls", tls).Replace
	args := expandExec(u.get("Service", "ExecStart"), env)
	for i := range args {
		args[i] = fix(args[i])
	}
	timeout, err := systemdDuration(u.get("Service", "TimeoutStopSec"))
	if err != nil {
		t.Fatal(err)
	}
	p := &unitProc{name: name, cmd: exec.Command(args[0], args[1:]...), timeout: timeout, out: &syncbuf.Buffer{}, done: make(chan error, 1)}
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + root}
	for _, e := range u["Service"]["Environment"] {
		p.cmd.Env = append(p.cmd.Env, fix(e))
	}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// stop sends KillSignal (SIGTERM) and waits at most TimeoutStopSec for a
// clean exit, as systemd would before it kills.
func (p *unitProc) stop(t *testing.T) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("%s: SIGTERM: %v", p.name, err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("%s exited with %v after SIGTERM\n%s", p.name, err, p.logs())
		}
		t.Logf("%s stopped %v after SIGTERM (TimeoutStopSec %v)", p.name, time.Since(start).Round(time.Millisecond), p.timeout)
	case <-time.After(p.timeout):
		t.Errorf("%s still running %v after SIGTERM: systemd would kill it\n%s", p.name, p.timeout, p.logs())
	}
}

func waitFor(t *testing.T, p *unitProc, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !ok() {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("waiting for %s: %s exited: %v\n%s", what, p.name, err, p.logs())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out\n%s", what, p.logs())
		}
	}
}

// health returns the coordinator's role from GET /v1/health over HTTPS
// trusting the CA file ("" on error).
func health(addr, caFile string) string {
	hc, err := caClient(caFile)
	if err != nil {
		return ""
	}
	resp, err := hc.Get("https://" + addr + "/v1/health")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var h struct{ Role string }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&h) != nil {
		return ""
	}
	return h.Role
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// freeAddr is embedtest.FreeAddr: the units' processes bind it later.
func freeAddr(t *testing.T) string { return embedtest.FreeAddr(t) }

// startTLSNATS runs NATS like nats.conf: TLS and a user with a password.
func startTLSNATS(t *testing.T, c testTLS, user, pass string) string {
	t.Helper()
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: c.Cert, KeyFile: c.Key, CaFile: c.CA, Timeout: 2})
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, Username: user, Password: pass,
		TLS: true, TLSConfig: tc, TLSTimeout: 2, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return fmt.Sprintf("tls://127.0.0.1:%d", s.Addr().(*net.TCPAddr).Port)
}

// startTLSEtcd runs etcd like etcd.yaml's client-transport-security.
func startTLSEtcd(t *testing.T, c testTLS) string {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	client := url.URL{Scheme: "https", Host: freeAddr(t)}
	peer := url.URL{Scheme: "http", Host: freeAddr(t)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	// As etcd.yaml: clients must present a certificate of the cluster CA.
	cfg.ClientTLSInfo = transport.TLSInfo{CertFile: c.Cert, KeyFile: c.Key, TrustedCAFile: c.CA, ClientCertAuth: true}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(e.Close) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case <-e.Server.ReadyNotify():
	case <-ctx.Done():
		t.Fatal("etcd not ready")
	}
	return client.String()
}
