package workercred

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

const secret = "workerSecretA8Zr5Tq2Lm7Xc4Vn1Bk6Jh3Qw9"

// TestDerive: the digest Terraform's sha256("<secret>:<service>:<id>")
// gives, distinct per worker and per service; bad inputs are refused
// without quoting the secret.
func TestDerive(t *testing.T) {
	nats, err := Derive(secret, NATS, "farm-w", 3)
	if err != nil {
		t.Fatal(err)
	}
	etcd, _ := Derive(secret, Etcd, "farm-w", 3)
	sum := sha256.Sum256([]byte(secret + ":nats:farm-w2"))
	if len(nats) != 3 || nats["farm-w2"] != hex.EncodeToString(sum[:]) || nats["farm-w0"] == nats["farm-w1"] || nats["farm-w0"] == etcd["farm-w0"] {
		t.Fatalf("derived %v %v", nats, etcd)
	}
	for _, c := range []struct {
		secret, prefix string
		count          int
		want           string
	}{
		{"short", "w", 1, "worker secret"},
		{secret + "!", "w", 1, "worker secret"},
		{secret, "w", -1, "worker count -1"},
		{secret, "w", MaxWorkers + 1, "worker count"},
		{secret, "w.", 1, `worker name "w.0"`},
	} {
		if _, err := Derive(c.secret, NATS, c.prefix, c.count); err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), secret) {
			t.Errorf("Derive(%q, %q, %d): %v, want %q without the secret", c.secret, c.prefix, c.count, err, c.want)
		}
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{"farm-w0": true, "w_1": true, strings.Repeat("a", 128): true,
		"": false, strings.Repeat("a", 129): false, "w.1": false, "w*": false, "w 1": false, "wö": false, "coordinator": true} {
		if ValidID(id) != want {
			t.Errorf("ValidID(%.20q) = %v, want %v", id, !want, want)
		}
	}
	if Alphanumeric("") || Alphanumeric("a-b") || !Alphanumeric("aB3") {
		t.Error("Alphanumeric")
	}
}
