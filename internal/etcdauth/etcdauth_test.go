package etcdauth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/sanafarm/sanafarm/internal/embedded"
	"github.com/sanafarm/sanafarm/protocol"
)

func startEtcd(t *testing.T) *embedded.Etcd {
	t.Helper()
	e, err := embedded.StartEtcd(t.Context(), embedded.EtcdConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func client(t *testing.T, e *embedded.Etcd, user, password string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		Username: user, Password: password})
	if err != nil {
		t.Fatalf("etcd client as %q: %v", user, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

var plan = Plan{RootPassword: "root-password-0123456789", CoordinatorPassword: "coord-password-0123456789",
	Nodes: map[string]string{"w0": "w0-password-0123456789", "w1": "w1-password-0123456789"}}

// assertWorkerScoped checks that w0, connected as worker w0, may
// announce itself under a lease it keeps alive (returned) and write or
// delete nothing else: not another worker's key, nor the coordinators'
// addresses, features or NATS links.
func assertWorkerScoped(ctx context.Context, t *testing.T, w0 *clientv3.Client) clientv3.LeaseID {
	t.Helper()
	l, err := w0.Grant(ctx, 10)
	if err != nil {
		t.Fatalf("worker lease: %v", err)
	}
	if _, err := w0.Put(ctx, protocol.NodeKey("w0"), `{"id":"w0"}`, clientv3.WithLease(l.ID)); err != nil {
		t.Fatalf("worker announcing itself: %v", err)
	}
	if _, err := w0.KeepAliveOnce(ctx, l.ID); err != nil {
		t.Fatalf("worker keeping its lease: %v", err)
	}
	for _, key := range []string{protocol.NodeKey("w1"), protocol.NodeKey("w0x"), protocol.CoordinatorKey("c0"),
		protocol.FeatureKey("c0"), protocol.NATSLinkKey("c0"), "/elsewhere"} {
		if _, err := w0.Put(ctx, key, "forged"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("worker w0 writing %s: %v, want permission denied", key, err)
		}
	}
	if _, err := w0.Delete(ctx, protocol.NodeKey("w1")); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Errorf("worker w0 deleting w1's key: %v, want permission denied", err)
	}
	return l.ID
}

// TestSetupScopesEachUser: after Setup a worker may announce itself (its
// own key, under a lease it keeps alive) and nothing else — not another
// worker's key, nor the coordinators' addresses or features; the
// coordinators' user reads and writes the farm; no user, no access.
func TestSetupScopesEachUser(t *testing.T) {
	e := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Setup(ctx, client(t, e, "", ""), plan); err != nil {
		t.Fatal(err)
	}
	w0 := client(t, e, "w0", plan.Nodes["w0"])
	l := assertWorkerScoped(ctx, t, w0)
	if _, err := w0.Revoke(ctx, l); err != nil {
		t.Errorf("worker revoking its lease: %v", err)
	}

	co := client(t, e, CoordinatorUser, plan.CoordinatorPassword)
	if _, err := co.Put(ctx, protocol.FeatureKey("c0"), protocol.FeatureRequeue); err != nil {
		t.Fatalf("coordinator writing its features: %v", err)
	}
	if _, err := co.Put(ctx, protocol.NATSLinkKey("c0"), ""); err != nil {
		t.Fatalf("coordinator announcing its NATS link: %v", err)
	}
	if _, err := co.Get(ctx, protocol.NodePrefix, clientv3.WithPrefix()); err != nil {
		t.Fatalf("coordinator listing nodes: %v", err)
	}
	if _, err := co.Put(ctx, "/elsewhere", "x"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Errorf("coordinator writing outside the farm: %v, want permission denied", err)
	}
	if _, err := client(t, e, "", "").Get(ctx, protocol.NodePrefix, clientv3.WithPrefix()); err == nil {
		t.Error("a client without a user read the node list")
	}
	if _, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		Username: "w1", Password: "wrong-password-0123456789"}); err == nil {
		t.Error("a wrong password was accepted")
	}
}

// TestSetupAgain: Setup runs again as root once authentication is on,
// adding a worker and changing a password.
func TestSetupAgain(t *testing.T) {
	e := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Setup(ctx, client(t, e, "", ""), plan); err != nil {
		t.Fatal(err)
	}
	more := plan
	more.Nodes = map[string]string{"w0": "w0-new-password-0123456789", "w2": "w2-password-0123456789"}
	if err := Setup(ctx, client(t, e, RootUser, plan.RootPassword), more); err != nil {
		t.Fatalf("second setup: %v", err)
	}
	if _, err := client(t, e, "w2", more.Nodes["w2"]).Put(ctx, protocol.NodeKey("w2"), "{}"); err != nil {
		t.Errorf("the added worker: %v", err)
	}
	if _, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		Username: "w0", Password: plan.Nodes["w0"]}); err == nil {
		t.Error("w0's old password still works")
	}
}

func TestPlanCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes map[string]string
		root  string
		want  string
	}{
		{"ok", plan.Nodes, plan.RootPassword, ""},
		{"short root password", plan.Nodes, "short", "etcd user root: password of 5 bytes"},
		{"short node password", map[string]string{"w0": "pw"}, plan.RootPassword, "etcd user w0: password of 2 bytes"},
		{"id with a slash", map[string]string{"w0/../c": plan.Nodes["w0"]}, plan.RootPassword, `"w0/../c"`},
		{"reserved id", map[string]string{"root": plan.Nodes["w0"]}, plan.RootPassword, "reserved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Plan{RootPassword: tc.root, CoordinatorPassword: plan.CoordinatorPassword, Nodes: tc.nodes}
			err := p.Check()
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if err != nil && (strings.Contains(err.Error(), tc.root) || strings.Contains(err.Error(), plan.Nodes["w0"])) {
				t.Errorf("error quotes a password: %v", err)
			}
		})
	}
}

// TestSetupAsRootFromTheStart: the root client `sanafarm etcd-auth` makes
// works before authentication is on too, so the command need not know.
func TestSetupAsRootFromTheStart(t *testing.T) {
	e := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Setup(ctx, client(t, e, RootUser, plan.RootPassword), plan); err != nil {
		t.Fatal(err)
	}
	if _, err := client(t, e, "", "").Put(ctx, protocol.NodeKey("w0"), "{}"); err == nil {
		t.Error("authentication is not on after Setup")
	}
}
