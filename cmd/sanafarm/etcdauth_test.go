package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/sanafarm/sanafarm/internal/embedded"
	"github.com/sanafarm/sanafarm/internal/workercred"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestEtcdAuthCommand: sanafarm etcd-auth turns authentication on with a
// user per worker; a worker connecting with $SANAFARM_ETCD_USER and
// $SANAFARM_ETCD_PASSWORD (as sanafarm node does) announces itself and is
// refused another worker's key; a second run adds a worker.
func TestEtcdAuthCommand(t *testing.T) {
	e, err := embedded.StartEtcd(t.Context(), embedded.EtcdConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	ep := strings.Join(e.Endpoints(), ",")
	users := filepath.Join(t.TempDir(), "etcd-users")
	write := func(s string) {
		if err := os.WriteFile(users, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(envEtcdRootPassword, "root-password-0123456789")
	t.Setenv(envEtcdCoordinatorPass, "coord-password-0123456789")
	write("# workers\nw0 w0-password-0123456789\n\n")
	for range 2 {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"etcd-auth", "--etcd", ep, "--node-users", users}, &out, &errb); code != 0 {
			t.Fatalf("etcd-auth: exit %d: %s", code, errb.String())
		}
		if strings.Contains(out.String()+errb.String(), "password-0123456789") {
			t.Fatalf("etcd-auth printed a password: %s %s", out.String(), errb.String())
		}
		write("w0 w0-password-0123456789\nw1 w1-password-0123456789\n")
	}
	t.Setenv(envEtcdUser, "w1")
	t.Setenv(envEtcdPassword, "w1-password-0123456789")
	cli, err := connectEtcd(context.Background(), ep, nil)
	if err != nil {
		t.Fatalf("worker w1 connecting: %v", err)
	}
	defer cli.Close()
	if _, err := cli.Put(context.Background(), protocol.NodeKey("w1"), "{}"); err != nil {
		t.Fatalf("w1 announcing itself: %v", err)
	}
	if _, err := cli.Put(context.Background(), protocol.NodeKey("w0"), "{}"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("w1 writing w0's key: %v, want permission denied", err)
	}
	t.Setenv(envEtcdPassword, "")
	if _, err := connectEtcd(context.Background(), ep, nil); err == nil || !strings.Contains(err.Error(), envEtcdPassword) {
		t.Fatalf("a user without a password: %v, want an error naming %s", err, envEtcdPassword)
	}

	// Derived users (docs/deploy.md §3.8): w2 gets the password Terraform
	// derives for its droplet from the worker secret.
	const secret = "workerSecretA8Zr5Tq2Lm7Xc4Vn1Bk6Jh3Qw9"
	t.Setenv(envWorkerSecret, secret)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"etcd-auth", "--etcd", ep, "--workers", "w", "--count", "3", "--node-users", users}, &out, &errb); code != 0 {
		t.Fatalf("etcd-auth --count: exit %d: %s", code, errb.String())
	}
	if strings.Contains(out.String()+errb.String(), secret) || !strings.Contains(out.String(), "3 workers") {
		t.Fatalf("etcd-auth --count printed %q %q", out.String(), errb.String())
	}
	t.Setenv(envEtcdUser, "w2")
	t.Setenv(envEtcdPassword, workercred.Password(secret, workercred.Etcd, "w2"))
	w2, err := connectEtcd(context.Background(), ep, nil)
	if err != nil {
		t.Fatalf("worker w2 with its derived password: %v", err)
	}
	defer w2.Close()
	if _, err := w2.Put(context.Background(), protocol.NodeKey("w2"), "{}"); err != nil {
		t.Fatalf("w2 announcing itself: %v", err)
	}
	t.Setenv(envEtcdUser, "w1") // the file's password takes precedence over the derived one
	t.Setenv(envEtcdPassword, "w1-password-0123456789")
	if c, err := connectEtcd(context.Background(), ep, nil); err != nil {
		t.Fatalf("w1 with the file's password: %v", err)
	} else {
		c.Close()
	}
}

func TestParseNodeUsers(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string // want: an error containing it ("" none)
		users          int
	}{
		{"two and a comment", "# w\nw0 pw0\n  w1\tpw1  \n", "", 2},
		{"empty", "", "", 0},
		{"three fields", "w0 pw0 extra\n", "users:1: want \"id password\" (3 fields)", 0},
		{"one field", "\n\nw0\n", "users:3:", 0},
		{"twice", "w0 a\nw0 b\n", `users:2: worker "w0" listed twice`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseNodeUsers(strings.NewReader(tc.in), "users")
			switch {
			case tc.want == "" && (err != nil || len(got) != tc.users):
				t.Fatalf("%d users, %v", len(got), err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "pw0") {
				t.Errorf("error quotes a password: %v", err)
			}
		})
	}
}

// FuzzParseNodeUsers: any file parses or fails with a usage error naming
// it, never quoting a password; parsed ids and passwords are single fields.
func FuzzParseNodeUsers(f *testing.F) {
	f.Add("w0 secret-0\n# c\nw1 secret-1\n")
	f.Add("w0\n")
	f.Fuzz(func(t *testing.T, in string) {
		users, err := parseNodeUsers(strings.NewReader(in), "users")
		if err != nil {
			var ue usageError
			if !errors.As(err, &ue) || !strings.HasPrefix(err.Error(), "users") {
				t.Fatalf("error %v: want a usage error naming the file", err)
			}
			return
		}
		for id, pw := range users {
			if id == "" || pw == "" || strings.ContainsAny(id+pw, " \t\n") || strings.HasPrefix(id, "#") {
				t.Fatalf("parsed user %q with password %q", id, pw)
			}
		}
	})
}

// TestEtcdAuthExitCodes: missing passwords or a malformed users file are
// usage errors (2), named; a file that cannot be read is a failure (1).
func TestEtcdAuthExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("w0 short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		env     bool
		args    []string
		code    int
		message string
	}{
		{"no passwords", false, []string{"--node-users", bad}, 2, envEtcdRootPassword},
		{"no file flag", true, nil, 2, "--node-users FILE or --workers PREFIX --count N is required"},
		{"no worker secret", true, []string{"--workers", "w", "--count", "2"}, 2, "--count needs $" + envWorkerSecret},
		{"missing file", true, []string{"--node-users", filepath.Join(dir, "none")}, 1, "--node-users: open"},
		{"short password", true, []string{"--node-users", bad}, 2, bad + ": etcd user w0: password of 5 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pw := ""
			if tc.env {
				pw = "long-enough-password-0123"
			}
			t.Setenv(envEtcdRootPassword, pw)
			t.Setenv(envEtcdCoordinatorPass, pw)
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"etcd-auth", "--etcd", "127.0.0.1:1"}, tc.args...), &out, &errb)
			if code != tc.code || !strings.Contains(errb.String(), tc.message) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errb.String(), tc.code, tc.message)
			}
			if strings.Contains(errb.String(), "short") { // the password in the file
				t.Errorf("stderr quotes a password: %s", errb.String())
			}
		})
	}
}
