package embedded_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/internal/embedded"
	"github.com/sanafarm/sanafarm/protocol"
)

// roleClient connects as user and collects its permission violations.
type roleClient struct {
	*nats.Conn
	errs chan error
}

func connectAs(t *testing.T, n *embedded.NATS, user, pass string, o ...nats.Option) roleClient {
	t.Helper()
	errs := make(chan error, 16)
	o = append(o, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	nc, err := nats.Connect(n.UserURL(user, pass), o...)
	if err != nil {
		t.Fatalf("connecting as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return roleClient{nc, errs}
}

// violation waits for the server to refuse what c just did.
func (c roleClient) violation(t *testing.T, what string) {
	t.Helper()
	_ = c.Flush()
	select {
	case err := <-c.errs:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Errorf("%s: %v, want a permissions violation", what, err)
		}
	case <-time.After(2 * time.Second):
		t.Errorf("%s: allowed, want a permissions violation", what)
	}
}

func (c roleClient) allowed(t *testing.T, what string) {
	t.Helper()
	_ = c.Flush()
	select {
	case err := <-c.errs:
		t.Errorf("%s: %v", what, err)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestNATSRolePermissions: with the farm's users, the normal flow works
// (a node's request reaches the coordinator and its reply comes back;
// gang traffic under the node's own id), while a node cannot answer for
// the coordinator, read another node's replies or gang traffic, take the coordinator's
// requests, lease or report as another node (or on the bare control
// subjects, where any id could be claimed) or send gang traffic as another
// node.
func TestNATSRolePermissions(t *testing.T) {
	n, err := embedded.StartNATS(embedded.NATSConfig{Users: embedded.RoleUsers("coord-pw", "shared-pw",
		map[string]string{"node-a": "a-pw", "node-b.x": "b-pw"})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	if _, err := nats.Connect(n.URL()); err == nil {
		t.Fatal("connected without credentials")
	}
	coord := connectAs(t, n, embedded.CoordinatorUser, "coord-pw")
	for _, subject := range []string{protocol.SubjectLease, protocol.SubjectLease + ".*"} {
		if _, err := coord.Subscribe(subject, func(m *nats.Msg) { _ = m.Respond([]byte("ok")) }); err != nil {
			t.Fatal(err)
		}
	}
	coord.allowed(t, "coordinator subscribes to lease requests")
	a := connectAs(t, n, "node-a", "a-pw", nats.CustomInboxPrefix(protocol.NodeInbox("node-a")))
	shared := connectAs(t, n, embedded.NodeUser, "shared-pw")
	for _, c := range []struct {
		c       roleClient
		subject string
	}{
		{a, protocol.NodeSubject(protocol.SubjectLease, "node-a")},
		{shared, protocol.SubjectLease},
		{shared, protocol.NodeSubject(protocol.SubjectLease, "node-b.x")},
	} {
		if m, err := c.c.Request(c.subject, []byte("{}"), 2*time.Second); err != nil || string(m.Data) != "ok" {
			t.Fatalf("lease request on %s: %v", c.subject, err)
		}
	}
	if _, err := a.Subscribe("sanafarm.shard.*.g1.node-a.d", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	_ = a.Publish(protocol.ShardSubjectPrefix+"node-a.g1.node-b%2Ex.d", []byte("x"))
	a.allowed(t, "node-a: gang traffic under its own id, and addressed to it")
	_, _ = a.Subscribe("sanafarm.shard.*.g1.r0", func(*nats.Msg) {})
	a.violation(t, "node-a subscribes to gang traffic of the earlier layout, open to all")
	_, _ = a.Subscribe("sanafarm.shard.*.g1."+protocol.SubjectToken("node-b.x")+".d", func(*nats.Msg) {})
	a.violation(t, "node-a subscribes to gang traffic addressed to node-b")
	if _, err := shared.Subscribe("sanafarm.shard.>", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	shared.allowed(t, "the shared node user reads all gang traffic (docs/deploy.md §9)")

	_ = a.Publish("_INBOX.node-b%2Ex.abc", []byte(`{"assignments":[]}`))
	a.violation(t, "node-a publishes a reply")
	_ = shared.Publish("_INBOX.abc", []byte(`{}`))
	shared.violation(t, "shared node user publishes a reply")
	_ = a.Publish(protocol.ShardSubjectPrefix+protocol.SubjectToken("node-b.x")+".g1.r0", []byte("x"))
	a.violation(t, "node-a publishes node-b's gang traffic")
	_, _ = a.Subscribe(protocol.NodeInbox("node-b.x")+".>", func(*nats.Msg) {})
	a.violation(t, "node-a subscribes to node-b's replies")
	_, _ = a.Subscribe(protocol.SubjectLease, func(*nats.Msg) {})
	a.violation(t, "node-a subscribes to lease requests")
	for _, subject := range []string{protocol.NodeSubject(protocol.SubjectComplete, "node-b.x"), protocol.SubjectComplete} {
		_ = a.Publish(subject, []byte("{}"))
		a.violation(t, "node-a reports on "+subject)
	}
	_ = coord.Publish(protocol.ShardSubjectPrefix+"node-a.g1.r0", []byte("x"))
	coord.violation(t, "coordinator publishes gang traffic")
}
