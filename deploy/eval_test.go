package deploy

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Sample secrets: recognisable, so the tests can look for leaks.
const (
	sampleToken            = "tok-ENwq3s4T9xk2Lr8ZpV0cY7bM1dHfGj6A"
	sampleNATSPassword     = "natsPWu7Rk2Qm9Xz4Lc8Vb1Nf3Hd6Jg"
	sampleNATSNodePassword = "natsNodePWq3Te8Ws1Yp5Kd7Mx2Bv9"
	sampleRoutePassword    = "routePWa5Ts8Wq2Ey7Ui4Op1Lk9Jh3"
	sampleS3Secret         = "s3SECRETk7Jd9Fh2Lm4Np6Qr8St0Uv"
	sampleHFToken          = "hf_SAMPLEtokenXyZ123"
	sampleKey              = "-----BEGIN PRIVATE KEY-----\nSAMPLEKEYSAMPLEKEY\n-----END PRIVATE KEY-----\n"
	sampleCert             = "-----BEGIN CERTIFICATE-----\nSAMPLECERT\n-----END CERTIFICATE-----\n"
	sampleNodeKey          = "-----BEGIN PRIVATE KEY-----\nSAMPLENODEKEY\n-----END PRIVATE KEY-----\n"
)

// sampleVars are the module inputs the tests evaluate with; open CIDRs
// for the API and SSH are the worst case the firewall must withstand.
func sampleVars() map[string]cty.Value {
	s := cty.StringVal
	zeros := strings.Repeat("0", 64)
	return map[string]cty.Value{
		"dns_zone":               s("example.com"),
		"api_allowed_cidrs":      cty.ListVal([]cty.Value{s("0.0.0.0/0"), s("::/0")}),
		"ssh_allowed_cidrs":      cty.ListVal([]cty.Value{s("0.0.0.0/0")}),
		"api_token":              s(sampleToken),
		"nats_password":          s(sampleNATSPassword),
		"nats_node_password":     s(sampleNATSNodePassword),
		"nats_route_password":    s(sampleRoutePassword),
		"tls_ca_cert":            s(sampleCert),
		"tls_cert":               s(sampleCert),
		"tls_key":                s(sampleKey),
		"tls_node_cert":          s(sampleCert),
		"tls_node_key":           s(sampleNodeKey),
		"hf_token":               s(sampleHFToken),
		"sanafarm_binary_url":    s("https://downloads.example.com/sanafarm"),
		"sanafarm_binary_sha256": s(zeros),
		"node_binary_url":        s("https://downloads.example.com/sanafarm-cuda"),
		"node_binary_sha256":     s(strings.Repeat("1", 64)),
		"etcd_release_sha256":    s(zeros),
		"nats_release_sha256":    s(zeros),
		"bucket_name":            s("example-sanafarm"),
		"s3_access_key_id":       s("DO00SAMPLEACCESSKEY"),
		"s3_secret_access_key":   s(sampleS3Secret),
	}
}

// moduleVars returns the module's defaults overridden by overrides; a
// variable with neither fails the test.
func moduleVars(t *testing.T, m *tfModule, overrides map[string]cty.Value) map[string]cty.Value {
	t.Helper()
	out := map[string]cty.Value{}
	for _, b := range m.blocksOf("variable", "") {
		name := b.Labels[0]
		if v, ok := overrides[name]; ok {
			out[name] = v
			continue
		}
		def, ok := b.Body.Attributes["default"]
		if !ok {
			t.Fatalf("variable %s has no default and no sample value", name)
		}
		v, diags := def.Expr.Value(nil)
		if diags.HasErrors() {
			t.Fatalf("default of %s: %s", name, diags.Error())
		}
		out[name] = v
	}
	return out
}

// evalContext evaluates the module's locals (repeatedly, until every one
// is known) over vars, stand-ins for the attributes of created resources,
// and path.module; count.index is 0.
func evalContext(t *testing.T, m *tfModule, vars map[string]cty.Value) *hcl.EvalContext {
	t.Helper()
	return evalContextAt(t, m, vars, 0)
}

// evalContextAt is evalContext for the resource of count.index index.
func evalContextAt(t *testing.T, m *tfModule, vars map[string]cty.Value, index int) *hcl.EvalContext {
	t.Helper()
	ctx := &hcl.EvalContext{Functions: functions(), Variables: map[string]cty.Value{
		"var":   cty.ObjectVal(vars),
		"path":  cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(m.dir)}),
		"count": cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(int64(index))}),
		"digitalocean_vpc": cty.ObjectVal(map[string]cty.Value{"this": cty.ObjectVal(map[string]cty.Value{
			"id": cty.StringVal("vpc-1"), "ip_range": vars["vpc_ip_range"]})}),
		"digitalocean_loadbalancer": cty.ObjectVal(map[string]cty.Value{"api": cty.TupleVal([]cty.Value{
			cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal("lb-1")})})}),
		"digitalocean_tag": cty.ObjectVal(map[string]cty.Value{
			"coordinator": cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal("sanafarm-coordinator")}),
			"worker":      cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal("sanafarm-worker")})}),
	}}
	pending := map[string]hclsyntax.Expression{}
	for _, b := range m.blocksOf("locals", "") {
		for name, a := range b.Body.Attributes {
			pending[name] = a.Expr
		}
	}
	locals := map[string]cty.Value{}
	for progress := true; progress && len(pending) > 0; {
		progress = false
		ctx.Variables["local"] = cty.ObjectVal(locals)
		for name, expr := range pending {
			v, diags := expr.Value(ctx)
			if diags.HasErrors() || !v.IsWhollyKnown() {
				continue
			}
			locals[name] = v
			delete(pending, name)
			progress = true
		}
	}
	for name, expr := range pending {
		_, diags := expr.Value(ctx)
		t.Fatalf("local.%s cannot be evaluated: %s", name, diags.Error())
	}
	ctx.Variables["local"] = cty.ObjectVal(locals)
	return ctx
}

// evalAttr evaluates attribute name of body in ctx.
func evalAttr(t *testing.T, body *hclsyntax.Body, name string, ctx *hcl.EvalContext) cty.Value {
	t.Helper()
	a, ok := body.Attributes[name]
	if !ok {
		t.Fatalf("no attribute %q at %s", name, body.SrcRange)
	}
	v, diags := a.Expr.Value(ctx)
	if diags.HasErrors() {
		t.Fatalf("evaluating %s: %s", name, diags.Error())
	}
	return v
}
