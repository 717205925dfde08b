package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
	"go.yaml.in/yaml/v3"
)

// cloudConfig is the part of a cloud-config document the tests read.
type cloudConfig struct {
	Users      []any `yaml:"users"`
	WriteFiles []struct {
		Path        string `yaml:"path"`
		Permissions string `yaml:"permissions"`
		Content     string `yaml:"content"`
	} `yaml:"write_files"`
	RunCmd  [][]string `yaml:"runcmd"`
	CACerts struct {
		Trusted []string `yaml:"trusted"`
	} `yaml:"ca_certs"`
}

func (c *cloudConfig) file(t *testing.T, path string) string {
	t.Helper()
	for _, f := range c.WriteFiles {
		if f.Path == path {
			return f.Content
		}
	}
	t.Fatalf("cloud-config writes no %s", path)
	return ""
}

// renderUserData evaluates a droplet's user_data (the module's real
// templatefile call) with vars and parses it as cloud-config.
func renderUserData(t *testing.T, droplet string, vars map[string]cty.Value) (string, *cloudConfig) {
	t.Helper()
	return renderUserDataAt(t, droplet, vars, 0)
}

// renderUserDataAt renders the user_data of droplet number index.
func renderUserDataAt(t *testing.T, droplet string, vars map[string]cty.Value, index int) (string, *cloudConfig) {
	t.Helper()
	m := loadModule(t, moduleDir)
	ctx := evalContextAt(t, m, moduleVars(t, m, vars), index)
	text := evalAttr(t, m.resource(t, "digitalocean_droplet", droplet).Body, "user_data", ctx).AsString()
	if !strings.HasPrefix(text, "#cloud-config\n") {
		t.Fatalf("%s user_data does not start with #cloud-config", droplet)
	}
	var cc cloudConfig
	if err := yaml.Unmarshal([]byte(text), &cc); err != nil {
		t.Fatalf("%s user_data is not YAML: %v\n%s", droplet, err, text)
	}
	if len(cc.WriteFiles) == 0 || len(cc.RunCmd) == 0 {
		t.Fatalf("%s user_data writes no files or runs nothing", droplet)
	}
	return text, &cc
}

func TestCloudInitCoordinator(t *testing.T) {
	vars := sampleVars()
	vars["coordinator_count"] = cty.NumberIntVal(3)
	_, cc := renderUserData(t, "coordinator", vars)
	checkUnitsVerbatim(t, cc, "sanafarm-coordinator.service", "etcd.service", "nats-server.service")
	env := parseEnvFile(t, cc.file(t, "/etc/sanafarm/coordinator.env"))
	secrets := parseEnvFile(t, cc.file(t, "/etc/sanafarm/secrets.env"))
	checkExecEnv(t, cc, "sanafarm-coordinator.service", env, secrets)

	if got := env["SANAFARM_PEERS"]; got != "c0=c0.sanafarm.example.com:7701,c1=c1.sanafarm.example.com:7701,c2=c2.sanafarm.example.com:7701" {
		t.Errorf("SANAFARM_PEERS = %q", got)
	}
	if secrets["SANAFARM_TOKEN"] != sampleToken || !strings.Contains(secrets["SANAFARM_NATS_URL"], sampleNATSPassword) {
		t.Error("secrets.env lacks the API token or the NATS password")
	}
	if secrets["AWS_SECRET_ACCESS_KEY"] != sampleS3Secret || secrets["AWS_ENDPOINT_URL_S3"] != "https://nyc3.digitaloceanspaces.com" {
		t.Errorf("secrets.env S3 settings: %v", secrets)
	}
	etcd := map[string]any{}
	if err := yaml.Unmarshal([]byte(cc.file(t, "/etc/etcd/etcd.yaml")), &etcd); err != nil {
		t.Fatalf("etcd.yaml: %v", err)
	}
	if etcd["bcrypt-cost"] != 4 {
		t.Errorf("etcd bcrypt-cost = %v, want 4 (random passwords: the work factor only slows logins)", etcd["bcrypt-cost"])
	}
	checkEtcdConfig(t, cc.file(t, "/etc/etcd/etcd.yaml"))
	if etcd["initial-cluster"] != "c0=https://c0.sanafarm.example.com:2380,c1=https://c1.sanafarm.example.com:2380,c2=https://c2.sanafarm.example.com:2380" {
		t.Errorf("etcd initial-cluster = %v", etcd["initial-cluster"])
	}
	if cts, _ := etcd["client-transport-security"].(map[string]any); cts == nil || cts["trusted-ca-file"] == nil ||
		cts["cert-file"] == nil || cts["client-cert-auth"] != true {
		t.Errorf("etcd clients must present a certificate of the cluster CA: %v", etcd["client-transport-security"])
	}
	if got := env["SANAFARM_ADVERTISE"]; got != "https://c0.sanafarm.example.com:7700" {
		t.Errorf("SANAFARM_ADVERTISE = %q: want the https URL of the name the certificate covers", got)
	}
	if !hasRunCmd(cc, "usermod -aG sanafarm-tls sanafarm") {
		t.Error("the sanafarm user cannot read server-key.pem (not in group sanafarm-tls)")
	}
	nats := cc.file(t, "/etc/nats/nats.conf")
	for _, want := range []string{"nats-route://route:" + sampleRoutePassword + "@c2.sanafarm.example.com:6222", "verify: true", `include "auth.conf"`} {
		if !strings.Contains(nats, want) {
			t.Errorf("nats.conf lacks %q", want)
		}
	}
	if strings.Contains(nats, sampleNATSPassword) {
		t.Error("nats.conf holds a NATS user's password: the users belong in auth.conf, written at boot")
	}
	checkPermissions(t, cc, map[string]string{"/etc/sanafarm/secrets.env": "0600", "/etc/sanafarm/tls/server-key.pem": "0600",
		"/etc/sanafarm/nats-auth.env": "0600", "/etc/sanafarm/nats-users": "0600"})
	checkInstalls(t, cc, "sanafarm", "etcd", "nats-server")
}

func TestCloudInitNode(t *testing.T) {
	_, cc := renderUserData(t, "worker", sampleVars())
	checkUnitsVerbatim(t, cc, "sanafarm-node.service")
	env := parseEnvFile(t, cc.file(t, "/etc/sanafarm/node.env"))
	secrets := parseEnvFile(t, cc.file(t, "/etc/sanafarm/secrets.env"))
	checkExecEnv(t, cc, "sanafarm-node.service", env, secrets)
	if env["SANAFARM_BACKEND"] != "cuda" || env["SANAFARM_ID"] != "sanafarm-w0" || env["SANAFARM_MODEL_MIRROR"] != "s3://example-sanafarm/models" {
		t.Errorf("node.env: %v", env)
	}
	if secrets["HF_TOKEN"] != sampleHFToken {
		t.Error("secrets.env lacks HF_TOKEN")
	}
	for _, f := range cc.WriteFiles {
		if strings.Contains(f.Content, sampleRoutePassword) || strings.Contains(f.Content, sampleToken) || strings.Contains(f.Content, sampleKey) {
			t.Errorf("a worker gets a coordinator-only secret in %s", f.Path)
		}
	}
	if cc.file(t, "/etc/sanafarm/tls/node-key.pem") != sampleNodeKey || cc.file(t, "/etc/sanafarm/tls/node.pem") != sampleCert {
		t.Error("the worker lacks its etcd client certificate")
	}
	if !hasRunCmd(cc, "chown root:sanafarm /etc/sanafarm/tls/node-key.pem") {
		t.Error("the sanafarm user cannot read node-key.pem")
	}
	checkPermissions(t, cc, map[string]string{"/etc/sanafarm/secrets.env": "0600", "/etc/sanafarm/tls/node-key.pem": "0600"})
	checkInstalls(t, cc, "sanafarm")
	if !strings.Contains(strings.Join(cc.RunCmd[0], " "), "https://downloads.example.com/sanafarm-cuda "+strings.Repeat("1", 64)) {
		t.Errorf("the worker does not install node_binary_url with its sha256: %v", cc.RunCmd[0])
	}
}

// hasRunCmd reports whether runcmd has the command (words joined by spaces).
func hasRunCmd(cc *cloudConfig, cmd string) bool {
	for _, c := range cc.RunCmd {
		if strings.Join(c, " ") == cmd {
			return true
		}
	}
	return false
}

// checkUnitsVerbatim: the units written are deploy/systemd's files.
func checkUnitsVerbatim(t *testing.T, cc *cloudConfig, names ...string) {
	t.Helper()
	for _, name := range names {
		want, err := os.ReadFile(filepath.Join(systemdDir, name))
		if err != nil {
			t.Fatal(err)
		}
		got := cc.file(t, "/etc/systemd/system/"+name)
		if got != string(want) {
			t.Errorf("cloud-init writes a %s that differs from deploy/systemd/%s", name, name)
		}
		if _, err := parseUnit(got); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// checkExecEnv: every variable ExecStart expands is set by the unit's
// environment files, and the expanded command's flags exist.
func checkExecEnv(t *testing.T, cc *cloudConfig, name string, envs ...map[string]string) {
	t.Helper()
	u, err := parseUnit(cc.file(t, "/etc/systemd/system/"+name))
	if err != nil {
		t.Fatal(err)
	}
	merged := map[string]string{}
	for _, e := range envs {
		for k, v := range e {
			merged[k] = v
		}
	}
	exec := u.get("Service", "ExecStart")
	for _, v := range envRefs(exec) {
		if _, ok := merged[v]; !ok {
			t.Errorf("%s: ExecStart uses $%s, which no environment file sets", name, v)
		}
	}
	checkCommandFlags(t, name+" (rendered)", expandExec(exec, merged))
}

func checkPermissions(t *testing.T, cc *cloudConfig, want map[string]string) {
	t.Helper()
	for _, f := range cc.WriteFiles {
		if p, ok := want[f.Path]; ok && f.Permissions != p {
			t.Errorf("%s has permissions %s, want %s", f.Path, f.Permissions, p)
		}
	}
}

// checkInstalls: runcmd installs each binary through install-binary.sh
// with a 64-hex-digit sha256, and enables the services last.
func checkInstalls(t *testing.T, cc *cloudConfig, names ...string) {
	t.Helper()
	installed := map[string]bool{}
	for _, c := range cc.RunCmd {
		if len(c) >= 4 && strings.HasSuffix(c[0], "install-binary.sh") {
			if len(c[2]) != 64 {
				t.Errorf("install of %v without a sha256", c[3:])
			}
			for _, n := range c[3:] {
				installed[n] = true
			}
		}
	}
	for _, n := range names {
		if !installed[n] {
			t.Errorf("runcmd does not install %s", n)
		}
	}
	last := strings.Join(cc.RunCmd[len(cc.RunCmd)-1], " ")
	if !strings.HasPrefix(last, "systemctl enable --now") {
		t.Errorf("runcmd does not end by enabling the services: %q", last)
	}
}
