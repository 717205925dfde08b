package natsusers

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/internal/workercred"
	"github.com/sanafarm/sanafarm/protocol"
)

const (
	coordPW = "coordPWa8Zr5Tq2Lm7Xc4Vn1Bk6Jh3"
	nodePW  = "nodePWa8Zr5Tq2Lm7Xc4Vn1Bk6Jh3x"
	secret  = "workerSecretA8Zr5Tq2Lm7Xc4Vn1Bk6Jh3Qw9"
)

func TestCheckNamesNoPassword(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{CoordinatorPassword: "short"}, "password of coordinator"},
		{Config{CoordinatorPassword: coordPW, NodePassword: "has space " + nodePW}, "password of node"},
		{Config{CoordinatorPassword: coordPW, Workers: map[string]string{"w.1": nodePW}}, `worker name "w.1"`},
		{Config{CoordinatorPassword: coordPW, Workers: map[string]string{"coordinator": nodePW}}, "not a role's name"},
		{Config{CoordinatorPassword: coordPW, Workers: map[string]string{"w1": "tooShort1"}}, "password of worker w1"},
	} {
		err := c.cfg.Check()
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), nodePW) {
			t.Errorf("%+v: %v, want %q without a password", c.cfg.Workers, err, c.want)
		}
	}
}

// TestRenderedUsersOnARealServer: nats-server reads the block, each user
// holds exactly protocol's subjects, and a worker connected with its
// derived password may send on its own subjects only.
func TestRenderedUsersOnARealServer(t *testing.T) {
	workers, err := workercred.Derive(secret, workercred.NATS, "farm-w", 4)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Render(&buf, Config{CoordinatorPassword: coordPW, NodePassword: nodePW, Workers: workers}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, append([]byte("listen: \"127.0.0.1:-1\"\n"), buf.Bytes()...), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	want := map[string]protocol.NATSPermissions{"coordinator": protocol.CoordinatorPermissions(), "node": protocol.NodePermissions("")}
	for id := range workers {
		want[id] = protocol.NodePermissions(id)
	}
	for _, u := range opts.Users {
		w, ok := want[u.Username]
		if !ok || !slices.Equal(u.Permissions.Publish.Allow, w.Publish) || !slices.Equal(u.Permissions.Subscribe.Allow, w.Subscribe) {
			t.Errorf("user %s: %+v", u.Username, u.Permissions)
		}
		delete(want, u.Username)
	}
	if len(want) > 0 {
		t.Fatalf("users missing: %v", want)
	}
	opts.NoLog, opts.NoSigs = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	if _, err := nats.Connect(srv.ClientURL(), nats.UserInfo("farm-w1", workers["farm-w2"])); err == nil {
		t.Fatal("a worker connected with another worker's password")
	}
	denied := make(chan string, 4)
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo("farm-w1", workers["farm-w1"]),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { denied <- err.Error() }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	own := protocol.NodeSubject(protocol.SubjectLease, "farm-w1")
	other := protocol.NodeSubject(protocol.SubjectLease, "farm-w2")
	for _, s := range []string{own, other} {
		if err := nc.Publish(s, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-denied:
		if !strings.Contains(msg, other) || strings.Contains(msg, own+`"`) {
			t.Fatalf("denied %q, want only %s", msg, other)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("publishing as farm-w2 was not refused")
	}
	select {
	case msg := <-denied:
		t.Fatalf("also denied: %s", msg)
	case <-time.After(200 * time.Millisecond):
	}
}

// FuzzRender: whatever names and passwords reach Render, it either refuses
// them or writes a block nats-server reads back with exactly those users,
// each holding its own subjects — no name or password breaks out of its
// quotes into other settings.
func FuzzRender(f *testing.F) {
	f.Add("farm-w0", "pwA8Zr5Tq2Lm7Xc4Vn1Bk6Jh3Qw9")
	f.Add(`w"0`, `pw"}]authorization{`)
	f.Add("w0\nuser: x", "a8Zr5Tq2Lm7Xc4Vn1Bk6Jh3Qw9\n")
	f.Fuzz(func(t *testing.T, id, pw string) {
		var buf bytes.Buffer
		if err := Render(&buf, Config{CoordinatorPassword: coordPW, Workers: map[string]string{id: pw}}); err != nil {
			return
		}
		path := filepath.Join(t.TempDir(), "nats.conf")
		if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		opts, err := server.ProcessConfigFile(path)
		if err != nil {
			t.Fatalf("accepted %q but nats-server cannot read it: %v", id, err)
		}
		if len(opts.Users) != 2 {
			t.Fatalf("%d users", len(opts.Users))
		}
		for _, u := range opts.Users {
			w, name := protocol.CoordinatorPermissions(), "coordinator"
			if u.Username != "coordinator" {
				w, name = protocol.NodePermissions(id), id
			}
			if u.Username != name || u.Password != map[string]string{"coordinator": coordPW, id: pw}[name] ||
				!slices.Equal(u.Permissions.Publish.Allow, w.Publish) || !slices.Equal(u.Permissions.Subscribe.Allow, w.Subscribe) {
				t.Fatalf("user %q read back as %+v", name, u)
			}
		}
	})
}
