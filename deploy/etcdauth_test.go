package deploy

import (
	"strconv"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/sanafarm/sanafarm/internal/workercred"
)

const (
	sampleEtcdRoot  = "etcdRootPWa1b2c3d4e5f6g7h8i9j0"
	sampleEtcdCoord = "etcdCoordPWa1b2c3d4e5f6g7h8i9j0"
	sampleEtcdW0    = "etcdW0PWa1b2c3d4e5f6g7h8i9j0k1"
)

func etcdAuthVars() map[string]cty.Value {
	vars := sampleVars()
	vars["etcd_root_password"] = cty.StringVal(sampleEtcdRoot)
	vars["etcd_coordinator_password"] = cty.StringVal(sampleEtcdCoord)
	vars["etcd_node_passwords"] = cty.MapVal(map[string]cty.Value{"sanafarm-w0": cty.StringVal(sampleEtcdW0)})
	return vars
}

// TestCloudInitEtcdAuth: with etcd_root_password the first coordinator
// installs sanafarm-etcd-auth.service (verbatim) with its passwords and the
// workers' users in root-only files, every coordinator and worker connects
// with its etcd user, and a worker never gets the root, coordinator or
// another worker's password.
func TestCloudInitEtcdAuth(t *testing.T) {
	_, cc := renderUserData(t, "coordinator", etcdAuthVars())
	checkUnitsVerbatim(t, cc, "sanafarm-etcd-auth.service")
	env := parseEnvFile(t, cc.file(t, "/etc/sanafarm/coordinator.env"))
	auth := parseEnvFile(t, cc.file(t, "/etc/sanafarm/etcd-auth.env"))
	checkExecEnv(t, cc, "sanafarm-etcd-auth.service", env, auth)
	if auth["SANAFARM_ETCD_ROOT_PASSWORD"] != sampleEtcdRoot || auth["SANAFARM_ETCD_COORDINATOR_PASSWORD"] != sampleEtcdCoord {
		t.Errorf("etcd-auth.env lacks the passwords")
	}
	if users := cc.file(t, "/etc/sanafarm/etcd-users"); strings.TrimSpace(users) != "sanafarm-w0 "+sampleEtcdW0 {
		t.Errorf("etcd-users = %q", users)
	}
	secrets := parseEnvFile(t, cc.file(t, "/etc/sanafarm/secrets.env"))
	if secrets["SANAFARM_ETCD_USER"] != "sanafarm-coordinator" || secrets["SANAFARM_ETCD_PASSWORD"] != sampleEtcdCoord {
		t.Errorf("the coordinator's secrets.env lacks its etcd user: %v", secrets["SANAFARM_ETCD_USER"])
	}
	checkPermissions(t, cc, map[string]string{"/etc/sanafarm/etcd-auth.env": "0600", "/etc/sanafarm/etcd-users": "0600"})
	if !hasRunCmd(cc, "chown root:sanafarm /etc/sanafarm/etcd-users") || !hasRunCmd(cc, "systemctl enable --now --no-block sanafarm-etcd-auth.service") {
		t.Error("the first coordinator does not run sanafarm-etcd-auth.service, or its user cannot read etcd-users")
	}

	_, wc := renderUserData(t, "worker", etcdAuthVars())
	ws := parseEnvFile(t, wc.file(t, "/etc/sanafarm/secrets.env"))
	if ws["SANAFARM_ETCD_USER"] != "sanafarm-w0" || ws["SANAFARM_ETCD_PASSWORD"] != sampleEtcdW0 {
		t.Errorf("the worker's secrets.env lacks its etcd user")
	}
	for _, f := range wc.WriteFiles {
		if strings.Contains(f.Content, sampleEtcdRoot) || strings.Contains(f.Content, sampleEtcdCoord) {
			t.Errorf("a worker gets the etcd root or coordinator password in %s", f.Path)
		}
	}
}

// TestCloudInitNoEtcdAuth: without etcd_root_password nothing changes: no
// unit, no users, no etcd user in any secrets.env.
func TestCloudInitNoEtcdAuth(t *testing.T) {
	for _, droplet := range []string{"coordinator", "worker"} {
		text, _ := renderUserData(t, droplet, sampleVars())
		for _, s := range []string{"SANAFARM_ETCD_USER", "etcd-auth", "etcd-users"} {
			if strings.Contains(text, s) {
				t.Errorf("%s user_data mentions %s without etcd_root_password", droplet, s)
			}
		}
	}
}

// TestCloudInitEtcdAuthDerived: with worker_secret, sanafarm etcd-auth
// derives the users of every worker name below worker_limit (the unit's
// --workers and --count come from etcd-auth.env, with the secret), and a
// worker without its own entry connects with the password its droplet
// derives — the same the command derives (internal/workercred).
func TestCloudInitEtcdAuthDerived(t *testing.T) {
	vars := etcdAuthVars()
	vars["worker_secret"] = cty.StringVal(sampleWorkerSecret)
	vars["worker_limit"] = cty.NumberIntVal(sampleWorkerLimit)
	vars["worker_count"] = cty.NumberIntVal(2)
	_, cc := renderUserData(t, "coordinator", vars)
	env := parseEnvFile(t, cc.file(t, "/etc/sanafarm/coordinator.env"))
	auth := parseEnvFile(t, cc.file(t, "/etc/sanafarm/etcd-auth.env"))
	checkExecEnv(t, cc, "sanafarm-etcd-auth.service", env, auth)
	if auth["SANAFARM_WORKER_SECRET"] != sampleWorkerSecret || auth["SANAFARM_ETCD_WORKERS"] != "sanafarm-w" ||
		auth["SANAFARM_ETCD_WORKER_COUNT"] != strconv.Itoa(sampleWorkerLimit) {
		t.Errorf("etcd-auth.env: workers %q count %q, secret set %v", auth["SANAFARM_ETCD_WORKERS"], auth["SANAFARM_ETCD_WORKER_COUNT"],
			auth["SANAFARM_WORKER_SECRET"] != "")
	}
	for i, want := range []string{sampleEtcdW0, workercred.Password(sampleWorkerSecret, workercred.Etcd, "sanafarm-w1")} {
		_, wc := renderUserDataAt(t, "worker", vars, i)
		ws := parseEnvFile(t, wc.file(t, "/etc/sanafarm/secrets.env"))
		if ws["SANAFARM_ETCD_USER"] != "sanafarm-w"+strconv.Itoa(i) || ws["SANAFARM_ETCD_PASSWORD"] != want {
			t.Errorf("worker %d: etcd user %q, or not the password expected", i, ws["SANAFARM_ETCD_USER"])
		}
		for _, f := range wc.WriteFiles {
			if strings.Contains(f.Content, sampleWorkerSecret) {
				t.Errorf("worker %d holds the worker secret in %s", i, f.Path)
			}
		}
	}
}
