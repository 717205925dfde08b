package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/zclconf/go-cty/cty"

	"github.com/sanafarm/sanafarm/protocol"
)

const sampleW0Password = "natsW0PWa8Zr5Tq2Lm7Xc4Vn1Bk6"

// TestNATSRoleUsers: the coordinators' nats.conf has a user per role
// with exactly the subjects protocol gives the role (the same as `sanafarm
// dev`'s embedded server), coordinators connect as coordinator, a worker
// as its own user (nats_node_passwords) or the shared node user, and no
// worker holds the coordinator's password.
func TestNATSRoleUsers(t *testing.T) {
	vars := sampleVars()
	vars["nats_node_passwords"] = cty.MapVal(map[string]cty.Value{"sanafarm-w0": cty.StringVal(sampleW0Password)})
	_, cc := renderUserData(t, "coordinator", vars)
	conf := cc.file(t, "/etc/nats/nats.conf")
	auth := conf[strings.Index(conf, "authorization {"):strings.Index(conf, "cluster {")]
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte("listen: \"127.0.0.1:-1\"\n"+auth), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats.conf authorization: %v\n%s", err, auth)
	}
	want := map[string]protocol.NATSPermissions{"coordinator": protocol.CoordinatorPermissions(),
		"node": protocol.NodePermissions(""), "sanafarm-w0": protocol.NodePermissions("sanafarm-w0")}
	for _, u := range opts.Users {
		w, ok := want[u.Username]
		if !ok || u.Permissions == nil || u.Permissions.Publish == nil || u.Permissions.Subscribe == nil {
			t.Errorf("user %s: unexpected or without permissions", u.Username)
			continue
		}
		if !slices.Equal(u.Permissions.Publish.Allow, w.Publish) || !slices.Equal(u.Permissions.Subscribe.Allow, w.Subscribe) {
			t.Errorf("user %s: publish %v subscribe %v, want %v %v", u.Username,
				u.Permissions.Publish.Allow, u.Permissions.Subscribe.Allow, w.Publish, w.Subscribe)
		}
		delete(want, u.Username)
	}
	if len(want) > 0 {
		t.Errorf("nats.conf lacks users %v", want)
	}
	if url := parseEnvFile(t, cc.file(t, "/etc/sanafarm/secrets.env"))["SANAFARM_NATS_URL"]; !strings.HasPrefix(url, "tls://coordinator:"+sampleNATSPassword+"@") {
		t.Errorf("coordinator NATS URL %q: want user coordinator", strings.ReplaceAll(url, sampleNATSPassword, "…"))
	}
	for _, c := range []struct {
		passwords cty.Value
		user      string
	}{
		{vars["nats_node_passwords"], "sanafarm-w0:" + sampleW0Password},
		{cty.MapValEmpty(cty.String), "node:" + sampleNATSNodePassword},
	} {
		vars["nats_node_passwords"] = c.passwords
		_, wc := renderUserData(t, "worker", vars)
		if url := parseEnvFile(t, wc.file(t, "/etc/sanafarm/secrets.env"))["SANAFARM_NATS_URL"]; !strings.HasPrefix(url, "tls://"+c.user+"@") {
			t.Errorf("worker NATS URL does not use %s", strings.Split(c.user, ":")[0])
		}
		for _, f := range wc.WriteFiles {
			if strings.Contains(f.Content, sampleNATSPassword) {
				t.Errorf("a worker gets the coordinator's NATS password in %s", f.Path)
			}
		}
	}
}
