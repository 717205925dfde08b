package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sanafarm/sanafarm/internal/workercred"
)

// TestNATSAuthCommand: nats-auth writes the roles and the derived users
// (a file of its own overriding one), never prints a secret, and refuses
// missing or weak secrets with exit status 2 before writing anything.
func TestNATSAuthCommand(t *testing.T) {
	const (
		coord  = "coordPWa8Zr5Tq2Lm7Xc4Vn1Bk6Jh3"
		secret = "workerSecretA8Zr5Tq2Lm7Xc4Vn1Bk6Jh3Qw9"
		own    = "ownPWa8Zr5Tq2Lm7Xc4Vn1Bk6Jh3Qw9"
	)
	dir := t.TempDir()
	dest, users := filepath.Join(dir, "auth.conf"), filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("# own\nfarm-w1 "+own+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := func(env map[string]string, args ...string) (int, string) {
		for _, k := range []string{envNATSCoordinatorPassword, envNATSNodePassword, envWorkerSecret} {
			t.Setenv(k, env[k])
		}
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"nats-auth"}, args...), &out, &errb)
		return code, out.String() + errb.String()
	}
	good := map[string]string{envNATSCoordinatorPassword: coord, envWorkerSecret: secret}
	code, out := cmd(good, "--workers", "farm-w", "--count", "3", "--node-users", users, "--dest", dest)
	if code != 0 || strings.Contains(out, secret) || strings.Contains(out, coord) {
		t.Fatalf("exit %d: %s", code, out)
	}
	b, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for _, want := range []string{workercred.Password(secret, workercred.NATS, "farm-w0"), workercred.Password(secret, workercred.NATS, "farm-w2"), own, `user: "coordinator"`} {
		if !strings.Contains(conf, want) {
			t.Errorf("auth.conf lacks %.12s…", want)
		}
	}
	if strings.Contains(conf, workercred.Password(secret, workercred.NATS, "farm-w1")) || strings.Contains(conf, `user: "node"`) || strings.Contains(conf, "farm-w3") {
		t.Errorf("auth.conf: the own password does not override, or extra users:\n%s", conf)
	}
	if st, _ := os.Stat(dest); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode().Perm())
	}
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{envWorkerSecret: secret}, []string{"--workers", "w", "--count", "1"}, envNATSCoordinatorPassword},
		{map[string]string{envNATSCoordinatorPassword: coord}, []string{"--workers", "w", "--count", "1"}, envWorkerSecret},
		{map[string]string{envNATSCoordinatorPassword: coord, envWorkerSecret: "weak"}, []string{"--workers", "w", "--count", "1"}, "worker secret"},
		{good, []string{"--count", "1"}, "--workers"},
		{good, []string{"--workers", "w", "--count", "10001"}, "worker count"},
		{map[string]string{envNATSCoordinatorPassword: coord, envNATSNodePassword: "short"}, nil, "password of node"},
	} {
		code, out := cmd(c.env, append(c.args, "--dest", filepath.Join(dir, "bad.conf"))...)
		if code != 2 || !strings.Contains(out, c.want) || strings.Contains(out, secret) || strings.Contains(out, coord) {
			t.Errorf("%v: exit %d %q, want 2 naming %s", c.args, code, out, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.conf")); err == nil {
		t.Error("a refused run wrote its file")
	}
}

// TestWriteWholeKeepsOwner: a rewritten file keeps the group of the one it
// replaces (auth.conf is root:nats, and nats-server must still read it).
func TestWriteWholeKeepsOwner(t *testing.T) {
	groups, err := os.Getgroups()
	if err != nil || len(groups) < 2 && os.Getuid() != 0 {
		t.Skip("needs root or a second group to change a file's group")
	}
	gid := 1 // daemon: any group but ours, which root may give
	if os.Getuid() != 0 {
		gid = groups[1]
	}
	path := filepath.Join(t.TempDir(), "auth.conf")
	if err := os.WriteFile(path, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, -1, gid); err != nil {
		t.Skipf("chown: %v", err)
	}
	if err := writeWhole(path, []byte("new"), 0o640); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if b, _ := os.ReadFile(path); string(b) != "new" || int(st.Sys().(*syscall.Stat_t).Gid) != gid || st.Mode().Perm() != 0o640 {
		t.Fatalf("rewritten: %q, gid %d, mode %v; want new, gid %d, 0640", b, st.Sys().(*syscall.Stat_t).Gid, st.Mode().Perm(), gid)
	}
}
