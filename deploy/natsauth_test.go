package deploy

import (
	"bytes"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/zclconf/go-cty/cty"

	"github.com/sanafarm/sanafarm/internal/natsusers"
	"github.com/sanafarm/sanafarm/internal/workercred"
	"github.com/sanafarm/sanafarm/protocol"
)

const (
	sampleW0Password    = "natsW0PWa8Zr5Tq2Lm7Xc4Vn1Bk6"
	sampleWorkerSecret  = "workerSecretK4Zr8Tq2Lm7Xc4Vn1Bk6Jh3Qw9Pz"
	sampleWorkerLimit   = 5
	natsAuthRunCmdStart = "set -a && . /etc/sanafarm/nats-auth.env && exec /usr/local/bin/sanafarm nats-auth "
)

// bootNATSAuth does on the rendered coordinator what its runcmd does:
// sources nats-auth.env and runs sanafarm nats-auth with the flags the
// runcmd passes (the command itself: cmd/sanafarm TestNATSAuthCommand),
// before nats-server starts. It returns the users nats-server then reads.
func bootNATSAuth(t *testing.T, cc *cloudConfig) []*server.User {
	t.Helper()
	at, flags := -1, map[string]string{}
	for i, c := range cc.RunCmd {
		if len(c) == 3 && c[0] == "sh" && strings.HasPrefix(c[2], natsAuthRunCmdStart) {
			at = i
			f := strings.Fields(strings.TrimPrefix(c[2], natsAuthRunCmdStart))
			for j := 0; j+1 < len(f); j += 2 {
				flags[f[j]] = f[j+1]
			}
		}
		if strings.Contains(strings.Join(c, " "), "enable --now") && slices.Contains(c, "nats-server.service") && at < 0 {
			t.Fatal("nats-server starts before sanafarm nats-auth wrote its users")
		}
	}
	if at < 0 || flags["--dest"] != "/etc/nats/auth.conf" || flags["--node-users"] != "/etc/sanafarm/nats-users" {
		t.Fatalf("no runcmd writing /etc/nats/auth.conf with sanafarm nats-auth: %v", flags)
	}
	env := parseEnvFile(t, cc.file(t, "/etc/sanafarm/nats-auth.env"))
	cfg := natsusers.Config{CoordinatorPassword: env["SANAFARM_NATS_COORDINATOR_PASSWORD"], NodePassword: env["SANAFARM_NATS_NODE_PASSWORD"], Workers: map[string]string{}}
	if n, _ := strconv.Atoi(flags["--count"]); n > 0 {
		var err error
		if cfg.Workers, err = workercred.Derive(env["SANAFARM_WORKER_SECRET"], workercred.NATS, flags["--workers"], n); err != nil {
			t.Fatal(err)
		}
	}
	for _, line := range strings.Split(cc.file(t, "/etc/sanafarm/nats-users"), "\n") {
		if f := strings.Fields(line); len(f) == 2 && !strings.HasPrefix(f[0], "#") {
			cfg.Workers[f[0]] = f[1]
		}
	}
	var auth bytes.Buffer
	if err := natsusers.Render(&auth, cfg); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "auth.conf"), auth.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cc.file(t, "/etc/nats/nats.conf"), `include "auth.conf"`) {
		t.Fatal(`nats.conf does not include "auth.conf"`)
	}
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte("listen: \"127.0.0.1:-1\"\ninclude \"auth.conf\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("auth.conf: %v", err)
	}
	return opts.Users
}

// TestNATSRoleUsers: the coordinators' nats-server gets a user per role
// with exactly the subjects protocol gives the role, coordinators connect
// as coordinator, and each worker connects as a user of its own whose
// password — derived by Terraform from worker_secret, or given in
// nats_node_passwords — is the one the coordinators wrote for it; without
// worker_secret a worker uses the shared user node. No worker holds the
// coordinator's password, the worker secret or another worker's.
func TestNATSRoleUsers(t *testing.T) {
	for _, c := range []struct {
		name   string
		secret bool
		users  []string // the users nats-server must hold
		url    func(i int) string
	}{
		{"worker_secret", true, []string{"coordinator", "sanafarm-w0", "sanafarm-w1", "sanafarm-w2", "sanafarm-w3", "sanafarm-w4"},
			func(i int) string {
				if i == 0 {
					return "sanafarm-w0:" + sampleW0Password
				}
				id := "sanafarm-w" + strconv.Itoa(i)
				return id + ":" + workercred.Password(sampleWorkerSecret, workercred.NATS, id)
			}},
		{"shared user", false, []string{"coordinator", "node", "sanafarm-w0"},
			func(i int) string {
				if i == 0 {
					return "sanafarm-w0:" + sampleW0Password
				}
				return "node:" + sampleNATSNodePassword
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			vars := sampleVars()
			vars["worker_count"] = cty.NumberIntVal(3)
			vars["nats_node_passwords"] = cty.MapVal(map[string]cty.Value{"sanafarm-w0": cty.StringVal(sampleW0Password)})
			if c.secret {
				vars["worker_secret"] = cty.StringVal(sampleWorkerSecret)
				vars["worker_limit"] = cty.NumberIntVal(sampleWorkerLimit)
			}
			_, cc := renderUserData(t, "coordinator", vars)
			users := map[string]*server.User{}
			for _, u := range bootNATSAuth(t, cc) {
				users[u.Username] = u
				w := protocol.NodePermissions(u.Username)
				switch u.Username {
				case "coordinator":
					w = protocol.CoordinatorPermissions()
				case "node":
					w = protocol.NodePermissions("")
				}
				if !slices.Equal(u.Permissions.Publish.Allow, w.Publish) || !slices.Equal(u.Permissions.Subscribe.Allow, w.Subscribe) {
					t.Errorf("user %s: publish %v subscribe %v, want %v %v", u.Username,
						u.Permissions.Publish.Allow, u.Permissions.Subscribe.Allow, w.Publish, w.Subscribe)
				}
			}
			if got := slices.Sorted(maps.Keys(users)); !slices.Equal(got, c.users) {
				t.Fatalf("nats-server users %v, want %v", got, c.users)
			}
			if u := users["coordinator"]; u.Password != sampleNATSPassword ||
				!strings.HasPrefix(parseEnvFile(t, cc.file(t, "/etc/sanafarm/secrets.env"))["SANAFARM_NATS_URL"], "tls://coordinator:"+sampleNATSPassword+"@") {
				t.Error("coordinators do not connect as the user coordinator")
			}
			for i := range 3 {
				checkWorkerNATS(t, vars, i, c.url(i), users)
			}
		})
	}
}

// checkWorkerNATS: worker i's droplet connects as want (user:password),
// a user the coordinators hold, and holds no other NATS secret.
func checkWorkerNATS(t *testing.T, vars map[string]cty.Value, i int, want string, users map[string]*server.User) {
	t.Helper()
	_, wc := renderUserDataAt(t, "worker", vars, i)
	raw := parseEnvFile(t, wc.file(t, "/etc/sanafarm/secrets.env"))["SANAFARM_NATS_URL"]
	first, _, _ := strings.Cut(raw, ",")
	u, err := url.Parse(first)
	if err != nil || u.User == nil {
		t.Fatalf("worker %d NATS URL unusable (%v)", i, err)
	}
	pw, _ := u.User.Password()
	if u.User.Username()+":"+pw != want {
		t.Errorf("worker %d connects as %s, not as %s with the password expected", i, u.User.Username(), strings.Split(want, ":")[0])
	}
	if srv := users[u.User.Username()]; srv == nil || srv.Password != pw {
		t.Errorf("worker %d: the coordinators hold no user %s with its password", i, u.User.Username())
	}
	others := []string{sampleNATSPassword, sampleWorkerSecret}
	for id, o := range users {
		if id != u.User.Username() {
			others = append(others, o.Password)
		}
	}
	for _, f := range wc.WriteFiles {
		for _, o := range others {
			if strings.Contains(f.Content, o) {
				t.Errorf("worker %d holds another NATS secret in %s", i, f.Path)
			}
		}
	}
}

// TestNATSWorkerUserRequired: a module call must give the workers NATS
// users: worker_secret, or else the shared user's password.
func TestNATSWorkerUserRequired(t *testing.T) {
	m := loadModule(t, moduleDir)
	pre := coordinatorPrecondition(t, m, "worker_secret")
	if pre == nil {
		t.Fatal("no precondition on worker_secret")
	}
	for _, c := range []struct {
		secret, node string
		want         bool
	}{{sampleWorkerSecret, "", true}, {"", sampleNATSNodePassword, true}, {sampleWorkerSecret, sampleNATSNodePassword, true}, {"", "", false}} {
		vars := sampleVars()
		vars["worker_secret"], vars["nats_node_password"] = cty.StringVal(c.secret), cty.StringVal(c.node)
		v, diags := pre.Value(evalContext(t, m, moduleVars(t, m, vars)))
		if diags.HasErrors() || v.True() != c.want {
			t.Errorf("worker_secret set %v, node password set %v: precondition %v (%v), want %v", c.secret != "", c.node != "", v, diags, c.want)
		}
	}
}

// TestWorkerPastLimitRefused: with worker_secret, a worker numbered at or
// past worker_limit (the coordinators made no user for it) fails the plan.
func TestWorkerPastLimitRefused(t *testing.T) {
	m := loadModule(t, moduleDir)
	var pre hclsyntax.Expression
	for _, b := range m.resource(t, "digitalocean_droplet", "worker").Body.Blocks {
		for _, pb := range b.Body.Blocks {
			if pb.Type == "precondition" && mentionsVar(pb.Body.Attributes["condition"].Expr, "worker_limit") {
				pre = pb.Body.Attributes["condition"].Expr
			}
		}
	}
	if pre == nil {
		t.Fatal("no precondition on worker_limit")
	}
	for _, c := range []struct {
		secret string
		index  int
		want   bool
	}{{sampleWorkerSecret, sampleWorkerLimit - 1, true}, {sampleWorkerSecret, sampleWorkerLimit, false}, {"", sampleWorkerLimit, true}} {
		vars := sampleVars()
		vars["worker_secret"], vars["worker_limit"] = cty.StringVal(c.secret), cty.NumberIntVal(sampleWorkerLimit)
		vars["worker_count"] = cty.NumberIntVal(sampleWorkerLimit + 1)
		v, diags := pre.Value(evalContextAt(t, m, moduleVars(t, m, vars), c.index))
		if diags.HasErrors() || v.True() != c.want {
			t.Errorf("secret set %v, worker %d of limit %d: precondition %v (%v), want %v", c.secret != "", c.index, sampleWorkerLimit, v, diags, c.want)
		}
	}
}
