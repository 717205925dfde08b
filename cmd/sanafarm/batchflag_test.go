package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestNodeBatchFlag: --batch defaults to 0 (sized from free memory) and
// is bounded.
func TestNodeBatchFlag(t *testing.T) {
	var f nodeFlags
	fl := pflag.NewFlagSet("node", pflag.ContinueOnError)
	f.register(fl, time.Second, time.Second)
	f.resident = 1
	if def := fl.Lookup("batch"); def == nil || def.DefValue != "0" {
		t.Fatalf("--batch flag: %+v", def)
	}
	for _, c := range []struct {
		arg string
		ok  bool
	}{{"0", true}, {"1", true}, {"16", true}, {"256", true}, {"257", false}, {"-1", false}} {
		if err := fl.Set("batch", c.arg); err != nil {
			t.Fatal(err)
		}
		err := f.checkBackend()
		if (err == nil) != c.ok || (err != nil && !strings.Contains(err.Error(), "--batch "+c.arg)) {
			t.Errorf("--batch %s: checkBackend %v", c.arg, err)
		}
	}
}

// TestNodeStorePatienceFlag: --store-patience defaults to the node's
// DefaultStorePatience and is bounded.
func TestNodeStorePatienceFlag(t *testing.T) {
	var f nodeFlags
	fl := pflag.NewFlagSet("node", pflag.ContinueOnError)
	f.register(fl, time.Second, time.Second)
	f.resident = 1
	if def := fl.Lookup("store-patience"); def == nil || def.DefValue != "5m0s" {
		t.Fatalf("--store-patience flag: %+v", def)
	}
	for _, c := range []struct {
		arg string
		ok  bool
	}{{"1s", true}, {"30m", true}, {"24h", true}, {"0s", false}, {"500ms", false}, {"25h", false}, {"-1m", false}} {
		if err := fl.Set("store-patience", c.arg); err != nil {
			t.Fatal(err)
		}
		err := f.checkBackend()
		if (err == nil) != c.ok || (err != nil && !strings.Contains(err.Error(), "--store-patience")) {
			t.Errorf("--store-patience %s: checkBackend %v", c.arg, err)
		}
	}
}
