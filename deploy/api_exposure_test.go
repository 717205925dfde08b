package deploy

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

const sampleMetricsToken = "metricsTOKENq8Wd3Ks7Yp1Lm5Nx9Bv2Cz"

// TestCloudInitMetricsToken: with metrics_token every coordinator and
// worker gets SANAFARM_METRICS_TOKEN in its root-only secrets.env (read by
// its unit); without it none does, and /metrics stays public.
func TestCloudInitMetricsToken(t *testing.T) {
	vars := sampleVars()
	vars["metrics_token"] = cty.StringVal(sampleMetricsToken)
	for _, c := range []struct{ droplet, unit, env string }{
		{"coordinator", "sanafarm-coordinator.service", "/etc/sanafarm/coordinator.env"},
		{"worker", "sanafarm-node.service", "/etc/sanafarm/node.env"},
	} {
		text, cc := renderUserData(t, c.droplet, vars)
		secrets := parseEnvFile(t, cc.file(t, "/etc/sanafarm/secrets.env"))
		if secrets["SANAFARM_METRICS_TOKEN"] != sampleMetricsToken {
			t.Errorf("%s: secrets.env lacks SANAFARM_METRICS_TOKEN", c.droplet)
		}
		checkExecEnv(t, cc, c.unit, parseEnvFile(t, cc.file(t, c.env)), secrets)
		if n := strings.Count(text, sampleMetricsToken); n != 1 {
			t.Errorf("%s: the metrics token appears %d times in user_data, want once (secrets.env)", c.droplet, n)
		}
		if text, _ := renderUserData(t, c.droplet, sampleVars()); strings.Contains(text, "SANAFARM_METRICS_TOKEN") {
			t.Errorf("%s: SANAFARM_METRICS_TOKEN without metrics_token", c.droplet)
		}
	}
}

// TestMetricsTokenChecks: the module refuses a short metrics token, and
// one equal to the API token (the scrape config would hold a credential
// that submits and cancels).
func TestMetricsTokenChecks(t *testing.T) {
	m := loadModule(t, moduleDir)
	var validation, precondition hclsyntax.Expression
	for _, b := range m.blocksOf("variable", "metrics_token") {
		for _, vb := range b.Body.Blocks {
			if vb.Type == "validation" {
				validation = vb.Body.Attributes["condition"].Expr
			}
		}
	}
	precondition = coordinatorPrecondition(t, m, "metrics_token")
	if validation == nil || precondition == nil {
		t.Fatalf("metrics_token: validation %v, precondition %v", validation != nil, precondition != nil)
	}
	for _, c := range []struct {
		token       string
		valid, pass bool
	}{
		{"", true, true},
		{sampleMetricsToken, true, true},
		{"short", false, true},
		{sampleMetricsToken + " x", false, true},
		{sampleToken, true, false},
	} {
		vars := sampleVars()
		vars["metrics_token"] = cty.StringVal(c.token)
		ctx := evalContext(t, m, moduleVars(t, m, vars))
		for _, e := range []struct {
			name string
			expr hclsyntax.Expression
			want bool
		}{{"validation", validation, c.valid}, {"precondition", precondition, c.pass}} {
			v, diags := e.expr.Value(ctx)
			if diags.HasErrors() {
				t.Fatalf("%s: %s", e.name, diags.Error())
			}
			if v.True() != e.want {
				t.Errorf("metrics_token %q: %s holds %v, want %v", c.token, e.name, v.True(), e.want)
			}
		}
	}
}

// coordinatorPrecondition is the condition of the coordinator droplets'
// precondition that reads var.name (nil: none).
func coordinatorPrecondition(t *testing.T, m *tfModule, name string) hclsyntax.Expression {
	t.Helper()
	for _, b := range m.resource(t, "digitalocean_droplet", "coordinator").Body.Blocks {
		for _, pb := range b.Body.Blocks {
			if pb.Type == "precondition" && mentionsVar(pb.Body.Attributes["condition"].Expr, name) {
				return pb.Body.Attributes["condition"].Expr
			}
		}
	}
	return nil
}

// mentionsVar reports whether e reads var.name.
func mentionsVar(e hclsyntax.Expression, name string) bool {
	for _, tr := range e.Variables() {
		if len(tr) > 1 && tr.RootName() == "var" {
			if a, ok := tr[1].(hcl.TraverseAttr); ok && a.Name == name {
				return true
			}
		}
	}
	return false
}

// TestCoordinatorConnsBehindBalancer: behind the load balancer, which
// names each connection's client in a PROXY header, the coordinators
// believe it (and X-Forwarded-For) from the VPC; without it they believe
// neither; the operator's own flags follow either way.
func TestCoordinatorConnsBehindBalancer(t *testing.T) {
	m := loadModule(t, moduleDir)
	ctx := evalContext(t, m, moduleVars(t, m, sampleVars()))
	lb := m.resource(t, "digitalocean_loadbalancer", "api")
	if v := evalAttr(t, lb.Body, "enable_proxy_protocol", ctx); !v.True() {
		t.Error("the load balancer does not send PROXY headers, which the coordinators' --proxy-protocol expects")
	}
	if v := evalAttr(t, lb.Body, "enable_backend_keepalive", ctx); v.True() {
		t.Error("backend keep-alive would carry several clients on one connection of one PROXY header")
	}
	for _, c := range []struct {
		lb    bool
		extra string
		want  string
	}{
		{true, "", "--trusted-proxies 10.42.0.0/20 --proxy-protocol"},
		{true, "--log-level debug", "--trusted-proxies 10.42.0.0/20 --proxy-protocol --log-level debug"},
		{false, "", ""},
		{false, "--log-level debug", "--log-level debug"},
	} {
		vars := sampleVars()
		vars["api_load_balancer"] = cty.BoolVal(c.lb)
		vars["coordinator_extra_flags"] = cty.StringVal(c.extra)
		_, cc := renderUserData(t, "coordinator", vars)
		if got := parseEnvFile(t, cc.file(t, "/etc/sanafarm/coordinator.env"))["SANAFARM_FLAGS"]; got != c.want {
			t.Errorf("load balancer %v, extra flags %q: SANAFARM_FLAGS = %q, want %q", c.lb, c.extra, got, c.want)
		}
	}
}

// TestCloudInitReadToken: with read_token the coordinators (only) get
// SANAFARM_READ_TOKEN in their root-only secrets.env; the module refuses a
// read token that is the API token.
func TestCloudInitReadToken(t *testing.T) {
	const readToken = "readTOKENq8Wd3Ks7Yp1Lm5Nx9Bv2Cz0123"
	vars := sampleVars()
	vars["read_token"] = cty.StringVal(readToken)
	_, cc := renderUserData(t, "coordinator", vars)
	if got := parseEnvFile(t, cc.file(t, "/etc/sanafarm/secrets.env"))["SANAFARM_READ_TOKEN"]; got != readToken {
		t.Errorf("coordinator secrets.env SANAFARM_READ_TOKEN = %q", got)
	}
	if text, _ := renderUserData(t, "worker", vars); strings.Contains(text, readToken) {
		t.Error("a worker gets the read token")
	}
	m := loadModule(t, moduleDir)
	pre := coordinatorPrecondition(t, m, "read_token")
	if pre == nil {
		t.Fatal("no precondition on read_token")
	}
	for token, want := range map[string]bool{"": true, readToken: true, sampleToken: false} {
		vars := sampleVars()
		vars["read_token"] = cty.StringVal(token)
		v, diags := pre.Value(evalContext(t, m, moduleVars(t, m, vars)))
		if diags.HasErrors() || v.True() != want {
			t.Errorf("read_token %q: precondition %v (%v), want %v", token, v, diags, want)
		}
	}
}
