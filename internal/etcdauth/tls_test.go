package etcdauth

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/sanafarm/sanafarm/internal/embedded"
	"github.com/sanafarm/sanafarm/internal/tlstest"
	"github.com/sanafarm/sanafarm/protocol"
)

// tlsFarm is an etcd served as deploy/terraform deploys it — TLS with
// client-cert-auth — and certificates shaped like gen-tls.sh's.
type tlsFarm struct {
	e      *embedded.Etcd
	ca     *tlstest.CA
	server tlstest.Files // the coordinators' (CN "*.<name>.<zone>")
	worker tlstest.Files // every worker's (CN "<name> sanafarm node")
}

func startTLSFarm(t *testing.T) tlsFarm {
	t.Helper()
	ca := tlstest.NewCA(t, "test sanafarm CA")
	f := tlsFarm{ca: ca, server: ca.Server(t, "*.test.example"), worker: ca.Client(t, "test sanafarm node")}
	e, err := embedded.StartEtcd(t.Context(), embedded.EtcdConfig{Dir: t.TempDir(), TLS: &embedded.EtcdTLS{
		CertFile: f.server.Cert, KeyFile: f.server.Key, ClientCAFile: ca.File, ClientCertAuth: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	f.e = e
	return f
}

// dial connects over TLS trusting f's CA, presenting cert (none: nil)
// and, if user is set, the user and password.
func (f tlsFarm) dial(t *testing.T, cert *tlstest.Files, user, password string) (*clientv3.Client, error) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: f.e.Endpoints(), DialTimeout: 3 * time.Second,
		Logger: zap.NewNop(), TLS: f.clientTLS(t, cert), Username: user, Password: password})
	if err == nil {
		t.Cleanup(func() { cli.Close() })
	}
	return cli, err
}

// clientTLS trusts f's CA and presents cert (nil: none) whatever CAs the
// server asks for: Go's client would otherwise keep quiet about a
// certificate of another CA, and the server would never see it.
func (f tlsFarm) clientTLS(t *testing.T, cert *tlstest.Files) *tls.Config {
	t.Helper()
	tc := &tls.Config{RootCAs: f.ca.Pool(), MinVersion: tls.VersionTLS12}
	if cert != nil {
		pair := cert.Pair(t)
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	}
	return tc
}

func (f tlsFarm) mustDial(t *testing.T, cert *tlstest.Files, user, password string) *clientv3.Client {
	t.Helper()
	cli, err := f.dial(t, cert, user, password)
	if err != nil {
		t.Fatalf("etcd client as %q over TLS: %v", user, err)
	}
	return cli
}

// TestSetupWithClientCerts: docs/deploy.md §3.7 on etcd with
// client-cert-auth. Every worker holds the same certificate, so the
// certificate must not be what grants a write: a worker's user and
// password scope it to its own key, the certificate alone (whose CN is no
// user) writes nothing, and no certificate gets no connection at all.
func TestSetupWithClientCerts(t *testing.T) {
	f := startTLSFarm(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// As `sanafarm etcd-auth` runs first: the coordinator's certificate,
	// no user yet (authentication is off).
	if err := Setup(ctx, f.mustDial(t, &f.server, "", ""), plan); err != nil {
		t.Fatal(err)
	}
	t.Run("worker certificate and user", func(t *testing.T) { workerWithUser(ctx, t, f) })
	t.Run("certificate without user", func(t *testing.T) { certificateAlone(ctx, t, f) })
	t.Run("coordinator", func(t *testing.T) { coordinatorWithCert(ctx, t, f) })
	t.Run("no client certificate", func(t *testing.T) { noClientCert(ctx, t, f) })
}

// workerWithUser: TestSetupScopesEachUser's worker, over TLS.
func workerWithUser(ctx context.Context, t *testing.T, f tlsFarm) {
	assertWorkerScoped(ctx, t, f.mustDial(t, &f.worker, "w0", plan.Nodes["w0"]))
}

// certificateAlone: etcd names a client that gives no user after its
// certificate's CN (a certificate with CN "w0" writes w0's key without a
// password), so gen-tls.sh's CNs must be no user: Plan.Check refuses them
// as node ids, and such a client may neither write nor read the farm.
func certificateAlone(ctx context.Context, t *testing.T, f tlsFarm) {
	for _, c := range []struct {
		name string
		cert tlstest.Files
	}{{"worker", f.worker}, {"coordinator", f.server}} {
		cli := f.mustDial(t, &c.cert, "", "")
		for _, key := range []string{protocol.NodeKey("w0"), protocol.NodeKey("w1"), protocol.CoordinatorKey("c0"), protocol.FeatureKey("c0")} {
			if _, err := cli.Put(ctx, key, "forged"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
				t.Errorf("%s certificate without a user writing %s: %v, want permission denied", c.name, key, err)
			}
		}
		if _, err := cli.Get(ctx, FarmPrefix, clientv3.WithPrefix()); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("%s certificate without a user reading the farm: %v, want permission denied", c.name, err)
		}
		if err := (Plan{RootPassword: plan.RootPassword, CoordinatorPassword: plan.CoordinatorPassword,
			Nodes: map[string]string{f.cnOf(t, c.cert): plan.Nodes["w0"]}}).Check(); err == nil {
			t.Errorf("%s certificate's CN is accepted as a node user", c.name)
		}
	}
}

// cnOf is the Common Name of cert's leaf.
func (f tlsFarm) cnOf(t *testing.T, cert tlstest.Files) string {
	t.Helper()
	pair := cert.Pair(t)
	if pair.Leaf == nil {
		t.Fatalf("%s: no parsed leaf", cert.Cert)
	}
	return pair.Leaf.Subject.CommonName
}

// coordinatorWithCert: the coordinators' user, presenting their
// certificate, reads and writes the farm (and only the farm).
func coordinatorWithCert(ctx context.Context, t *testing.T, f tlsFarm) {
	co := f.mustDial(t, &f.server, CoordinatorUser, plan.CoordinatorPassword)
	if _, err := co.Put(ctx, protocol.FeatureKey("c0"), protocol.FeatureRequeue); err != nil {
		t.Fatalf("coordinator writing its features: %v", err)
	}
	if _, err := co.Put(ctx, protocol.CoordinatorKey("c0"), "127.0.0.1:7700"); err != nil {
		t.Fatalf("coordinator writing its address: %v", err)
	}
	resp, err := co.Get(ctx, FarmPrefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("coordinator reading the farm: %v", err)
	}
	if resp.Count < 2 {
		t.Errorf("coordinator read %d keys under %s, want at least its own 2", resp.Count, FarmPrefix)
	}
	if _, err := co.Put(ctx, "/elsewhere", "x"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Errorf("coordinator writing outside the farm: %v, want permission denied", err)
	}
}

// noClientCert: client-cert-auth refuses the TLS handshake of a client
// without a certificate of the farm's CA, even one with a right password.
func noClientCert(ctx context.Context, t *testing.T, f tlsFarm) {
	other := tlstest.NewCA(t, "other CA").Client(t, "test sanafarm node")
	for _, c := range []struct {
		name string
		cert *tlstest.Files
	}{{"no certificate", nil}, {"another CA's certificate", &other}} {
		if err := f.handshake(t, c.cert); !isRemoteAlert(err) {
			t.Errorf("TLS with %s: %v, want the server's alert", c.name, err)
		}
		cli, err := f.dial(t, c.cert, CoordinatorUser, plan.CoordinatorPassword)
		if err == nil {
			opCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
			_, err = cli.Get(opCtx, FarmPrefix, clientv3.WithPrefix())
			cancel()
		}
		if err == nil {
			t.Errorf("a client with %s read the farm", c.name)
		}
	}
	// The control: the worker's certificate passes the same handshake.
	if err := f.handshake(t, &f.worker); err != nil && !isTimeout(err) {
		t.Errorf("TLS with the worker's certificate: %v, want the connection up (a read that times out)", err)
	}
}

// handshake opens a raw TLS connection presenting cert (nil: none) and
// reads from it briefly: under TLS 1.3 the server checks the client's
// certificate after the client's side of the handshake is done, so its
// refusal arrives as an alert on the first read.
func (f tlsFarm) handshake(t *testing.T, cert *tlstest.Files) error {
	t.Helper()
	tc := f.clientTLS(t, cert)
	tc.NextProtos = []string{"h2"}
	d := &net.Dialer{Timeout: 3 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", f.e.Endpoints()[0], tc)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	_, err = conn.Read(make([]byte, 1))
	return err
}

// isTimeout: err is a read deadline passing on a connection still up.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isRemoteAlert: err is a TLS alert the server sent.
func isRemoteAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}
