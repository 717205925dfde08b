package coordinator

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestConfigNATSHandoverAfter: 0 takes the default, a negative value
// (never) stays, and a value under the minimum is refused with the reason.
func TestConfigNATSHandoverAfter(t *testing.T) {
	for _, c := range []struct {
		in, want time.Duration
		err      string
	}{
		{0, DefaultNATSHandoverAfter, ""},
		{-1, -1, ""},
		{MinNATSHandoverAfter, MinNATSHandoverAfter, ""},
		{time.Minute, time.Minute, ""},
		{MinNATSHandoverAfter - time.Millisecond, 0, "NATSHandoverAfter 1.999s is shorter than 2s"},
	} {
		cfg := Config{ID: "c1", DataDir: t.TempDir(), RaftBind: "127.0.0.1:0", NATSHandoverAfter: c.in}
		err := cfg.setDefaults()
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%v: error %v, want %q", c.in, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%v: %v", c.in, err)
		case c.err == "" && cfg.NATSHandoverAfter != c.want:
			t.Errorf("%v: NATSHandoverAfter %v, want %v", c.in, cfg.NATSHandoverAfter, c.want)
		}
	}
}

// TestConfigProxyProtocol: PROXY headers are believed only from trusted
// proxies, so ProxyProtocol without them is refused.
func TestConfigProxyProtocol(t *testing.T) {
	cfg := Config{ID: "c1", DataDir: t.TempDir(), RaftBind: "127.0.0.1:0", ProxyProtocol: true}
	if err := cfg.setDefaults(); err == nil || !strings.Contains(err.Error(), "ProxyProtocol needs TrustedProxies") {
		t.Fatalf("err = %v", err)
	}
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
}
