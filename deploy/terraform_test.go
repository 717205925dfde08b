package deploy

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// noValidation are the module variables whose every value is fine.
var noValidation = map[string]bool{"tags": true, "ssh_key_ids": true, "api_load_balancer": true,
	"create_bucket": true, "hf_token": true}

func TestTerraformVariablesDeclaredUsedDocumented(t *testing.T) {
	for _, dir := range tfDirs(t) {
		t.Run(dir, func(t *testing.T) {
			m := loadModule(t, dir)
			declared := map[string]*hclsyntax.Block{}
			for _, b := range m.blocksOf("variable", "") {
				declared[b.Labels[0]] = b
			}
			used := map[string]bool{}
			for _, tr := range m.traversals() {
				if tr.RootName() == "var" {
					used[attrName(tr)] = true
				}
			}
			for name := range used {
				if declared[name] == nil {
					t.Errorf("var.%s is used but not declared", name)
				}
			}
			for name, b := range declared {
				if !used[name] {
					t.Errorf("variable %s is declared but never used", name)
				}
				checkVariableBlock(t, dir, name, b)
			}
		})
	}
}

func checkVariableBlock(t *testing.T, dir, name string, b *hclsyntax.Block) {
	t.Helper()
	desc, ok := b.Body.Attributes["description"]
	if !ok {
		t.Errorf("variable %s has no description", name)
	} else if v, diags := desc.Expr.Value(nil); diags.HasErrors() || len(strings.TrimSpace(v.AsString())) < 10 {
		t.Errorf("variable %s: description too short", name)
	}
	if _, ok := b.Body.Attributes["type"]; !ok {
		t.Errorf("variable %s has no type", name)
	}
	if dir != moduleDir || noValidation[name] {
		return
	}
	var hasValidation bool
	for _, vb := range b.Body.Blocks {
		if vb.Type == "validation" {
			hasValidation = true
			if vb.Body.Attributes["condition"] == nil || vb.Body.Attributes["error_message"] == nil {
				t.Errorf("variable %s: validation needs condition and error_message", name)
			}
		}
	}
	if !hasValidation {
		t.Errorf("module variable %s has no validation block", name)
	}
}

func TestTerraformExampleCallsTheModule(t *testing.T) {
	mod := loadModule(t, moduleDir)
	ex := loadModule(t, exampleDir)
	calls := ex.blocksOf("module", "sanafarm")
	if len(calls) != 1 {
		t.Fatalf("example: want one module \"sanafarm\" block, got %d", len(calls))
	}
	args := calls[0].Body.Attributes
	required := map[string]bool{}
	known := map[string]bool{}
	for _, b := range mod.blocksOf("variable", "") {
		known[b.Labels[0]] = true
		if _, ok := b.Body.Attributes["default"]; !ok {
			required[b.Labels[0]] = true
		}
	}
	for name := range args {
		if name != "source" && !known[name] {
			t.Errorf("example passes %s, which the module does not declare", name)
		}
	}
	for name := range required {
		if _, ok := args[name]; !ok {
			t.Errorf("example does not pass the required module variable %s", name)
		}
	}
}

// internalPorts must never be reachable from outside the VPC.
var internalPorts = []int{7701, 2379, 2380, 2381, 4222, 6222, 8222}

func TestFirewallKeepsInternalPortsInside(t *testing.T) {
	m := loadModule(t, moduleDir)
	ctx := evalContext(t, m, moduleVars(t, m, sampleVars()))
	for _, name := range []string{"coordinator", "worker"} {
		fw := m.resource(t, "digitalocean_firewall", name)
		rules := inboundRules(t, fw.Body, ctx)
		if len(rules) == 0 {
			t.Fatalf("firewall %s: no inbound rules found", name)
		}
		for _, r := range rules {
			for _, p := range internalPorts {
				if !r.covers(p) {
					continue
				}
				for _, src := range r.sources {
					if isOpen(src) {
						t.Errorf("firewall %s: port %d (%s) open to %s", name, p, r.ports, src)
					}
				}
			}
		}
	}
	// The coordinators must actually accept the internal ports from the VPC.
	open := map[int]bool{}
	for _, r := range inboundRules(t, m.resource(t, "digitalocean_firewall", "coordinator").Body, ctx) {
		for _, p := range internalPorts {
			if r.covers(p) && len(r.sources) > 0 {
				open[p] = true
			}
		}
	}
	for _, p := range internalPorts {
		if !open[p] {
			t.Errorf("coordinator firewall: internal port %d not allowed from the VPC", p)
		}
	}
}

type inboundRule struct {
	protocol, ports string
	sources         []string
}

func (r inboundRule) covers(port int) bool {
	if r.protocol != "tcp" && r.protocol != "udp" {
		return false
	}
	lo, hi, _ := strings.Cut(r.ports, "-")
	a, errA := strconv.Atoi(lo)
	b, errB := strconv.Atoi(firstNonEmpty(hi, lo))
	if r.ports == "all" || r.ports == "" || errA != nil || errB != nil {
		return true // a rule we cannot read counts as open to everything
	}
	return a <= port && port <= b
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// isOpen reports whether a source CIDR reaches beyond private ranges.
func isOpen(cidr string) bool {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return true
	}
	return !p.Addr().IsPrivate() && !p.Addr().IsLoopback()
}

// inboundRules evaluates the static and dynamic inbound_rule blocks.
func inboundRules(t *testing.T, body *hclsyntax.Body, ctx *hcl.EvalContext) []inboundRule {
	t.Helper()
	var out []inboundRule
	for _, b := range body.Blocks {
		switch {
		case b.Type == "inbound_rule":
			out = append(out, readRule(t, b.Body, ctx))
		case b.Type == "dynamic" && b.Labels[0] == "inbound_rule":
			each := evalAttr(t, b.Body, "for_each", ctx)
			for it := each.ElementIterator(); it.Next(); {
				k, v := it.Element()
				child := ctx.NewChild()
				child.Variables = map[string]cty.Value{"inbound_rule": cty.ObjectVal(map[string]cty.Value{"key": k, "value": v})}
				for _, c := range b.Body.Blocks {
					if c.Type == "content" {
						out = append(out, readRule(t, c.Body, child))
					}
				}
			}
		}
	}
	return out
}

func readRule(t *testing.T, body *hclsyntax.Body, ctx *hcl.EvalContext) inboundRule {
	t.Helper()
	r := inboundRule{protocol: evalAttr(t, body, "protocol", ctx).AsString()}
	if _, ok := body.Attributes["port_range"]; ok {
		r.ports = evalAttr(t, body, "port_range", ctx).AsString()
	}
	if _, ok := body.Attributes["source_addresses"]; ok {
		v := evalAttr(t, body, "source_addresses", ctx)
		for it := v.ElementIterator(); it.Next(); {
			_, s := it.Element()
			r.sources = append(r.sources, s.AsString())
		}
	}
	return r
}

// TestOutputsCarryNoSecrets: no output depends, directly or through
// locals, on a sensitive variable, and none is marked sensitive (which
// would only hide a secret that should not be there).
func TestOutputsCarryNoSecrets(t *testing.T) {
	for _, dir := range []string{moduleDir, exampleDir} {
		m := loadModule(t, dir)
		secret := map[string]bool{}
		for _, b := range m.blocksOf("variable", "") {
			if a, ok := b.Body.Attributes["sensitive"]; ok {
				if v, _ := a.Expr.Value(nil); v.True() {
					secret["var."+b.Labels[0]] = true
				}
			}
		}
		taintLocals(m, secret)
		for _, o := range m.blocksOf("output", "") {
			if _, ok := o.Body.Attributes["sensitive"]; ok {
				t.Errorf("%s: output %s is marked sensitive: outputs must not carry secrets", dir, o.Labels[0])
			}
			for _, ref := range refs(o.Body) {
				if secret[ref] {
					t.Errorf("%s: output %s depends on the secret %s", dir, o.Labels[0], ref)
				}
			}
		}
	}
}

// taintLocals adds to secret every local whose expression reaches one.
func taintLocals(m *tfModule, secret map[string]bool) {
	for changed := true; changed; {
		changed = false
		for _, b := range m.blocksOf("locals", "") {
			for name, a := range b.Body.Attributes {
				if secret["local."+name] {
					continue
				}
				for _, ref := range refs(a.Expr) {
					if secret[ref] {
						secret["local."+name], changed = true, true
						break
					}
				}
			}
		}
	}
}

// refs lists "root.attr" of the traversals under n.
func refs(n hclsyntax.Node) []string {
	var out []string
	hclsyntax.VisitAll(n, func(n hclsyntax.Node) hcl.Diagnostics {
		if st, ok := n.(*hclsyntax.ScopeTraversalExpr); ok {
			out = append(out, fmt.Sprintf("%s.%s", st.Traversal.RootName(), attrName(st.Traversal)))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// TestBucketAbortsIncompleteUploads: the bucket the module creates aborts
// multipart uploads left open (a process killed mid-upload) within days,
// so their parts are not billed for ever.
func TestBucketAbortsIncompleteUploads(t *testing.T) {
	m := loadModule(t, moduleDir)
	for _, b := range m.resource(t, "digitalocean_spaces_bucket", "outputs").Body.Blocks {
		if b.Type != "lifecycle_rule" {
			continue
		}
		on := evalAttr(t, b.Body, "enabled", nil)
		days := evalAttr(t, b.Body, "abort_incomplete_multipart_upload_days", nil)
		if on.True() && days.Type() == cty.Number {
			if d, _ := days.AsBigFloat().Int64(); d >= 1 && d <= 7 {
				return
			}
		}
	}
	t.Fatal("the outputs bucket has no enabled lifecycle_rule aborting incomplete multipart uploads within 1..7 days")
}
