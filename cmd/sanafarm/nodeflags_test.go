package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestNodeFlagBounds: node flags that checkBackend bounds have their
// defaults, and a value out of range is a usage error naming the flag and
// value before anything starts.
func TestNodeFlagBounds(t *testing.T) {
	type arg struct {
		v  string
		ok bool
	}
	for _, c := range []struct {
		flag, def string
		args      []arg
		mention   func(v string) string // what the error must contain
	}{
		{"batch", "0", []arg{{"0", true}, {"1", true}, {"16", true}, {"256", true}, {"257", false}, {"-1", false}},
			func(v string) string { return "--batch " + v }},
		{"store-patience", "5m0s", []arg{{"1s", true}, {"30m", true}, {"24h", true}, {"0s", false}, {"500ms", false}, {"25h", false}, {"-1m", false}},
			func(v string) string { return "--store-patience " + v }},
		{"stall-timeout", "30m0s", []arg{{"0s", true}, {"1m", true}, {"24h", true}, {"30s", false}, {"25h", false}, {"-1m", false}},
			func(v string) string { return "--stall-timeout " + v }},
		{"precision", "auto", []arg{{"bf16", true}, {"f32", true}, {"auto", true}, {"int8", false}},
			func(v string) string { return `"` + v + `"` }},
	} {
		var f nodeFlags
		fl := pflag.NewFlagSet("node", pflag.ContinueOnError)
		f.register(fl, time.Second, time.Second)
		f.resident = 1
		if def := fl.Lookup(c.flag); def == nil || def.DefValue != c.def {
			t.Fatalf("--%s flag: %+v, want default %s", c.flag, def, c.def)
		}
		for _, a := range c.args {
			if err := fl.Set(c.flag, a.v); err != nil {
				t.Fatal(err)
			}
			err := f.checkBackend()
			if (err == nil) != a.ok || (err != nil && !strings.Contains(err.Error(), c.mention(a.v))) {
				t.Errorf("--%s %s: checkBackend %v", c.flag, a.v, err)
			}
		}
	}
}

// TestStallConfig: --stall-timeout 0 is never; otherwise the store
// patience is added (uploads waiting out an outage finish no image).
func TestStallConfig(t *testing.T) {
	if got := stallConfig(0, 5*time.Minute); got >= 0 {
		t.Errorf("0: %v, want negative (never)", got)
	}
	if got := stallConfig(30*time.Minute, 5*time.Minute); got != 35*time.Minute {
		t.Errorf("30m with 5m patience: %v, want 35m", got)
	}
}
