package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/s3test"
)

// Bins are the binaries a farm runs, built once per test process.
type Bins struct {
	Sanafarm, Etcd, NATS string
	// Allow says which commands take --allow-write (the output
	// allow-lists, default deny), by command name.
	Allow map[string]bool
}

var (
	buildOnce sync.Once
	bins      Bins
	buildErr  error
	// BinDir holds the built binaries; TestMain removes it.
	BinDir string
)

// Build compiles sanafarm (CGO_ENABLED=0), deploy/image/etcd-server and
// deploy/image/nats-server from this module into BinDir, once.
func Build(t testing.TB) Bins {
	t.Helper()
	buildOnce.Do(func() { bins, buildErr = build() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bins
}

func build() (Bins, error) {
	root, err := moduleRoot()
	if err != nil {
		return Bins{}, err
	}
	if BinDir == "" {
		if BinDir, err = os.MkdirTemp("", "sanafarm-chaos-bin-"); err != nil {
			return Bins{}, err
		}
	}
	b := Bins{Sanafarm: filepath.Join(BinDir, "sanafarm"), Etcd: filepath.Join(BinDir, "etcd"),
		NATS: filepath.Join(BinDir, "nats-server")}
	for out, pkg := range map[string]string{b.Sanafarm: "./cmd/sanafarm", b.Etcd: "./deploy/image/etcd-server",
		b.NATS: "./deploy/image/nats-server"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			return Bins{}, fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
		}
	}
	b.Allow = map[string]bool{}
	for _, cmd := range []string{"node", "dev", "coordinator"} {
		help, _ := exec.Command(b.Sanafarm, cmd, "--help").CombinedOutput()
		b.Allow[cmd] = strings.Contains(string(help), "--allow-write")
	}
	return b, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the sanafarm module")
	}
	return filepath.Dir(mod), nil
}

// WaitVersitygw waits (up to limit) for scripts/install-versitygw.sh to
// finish building versitygw, which the first run on a machine may still
// be doing, and fails the test without it.
func WaitVersitygw(t testing.TB, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		_, err := s3test.FindBinary()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw: %v", err)
		}
		t.Logf("waiting for versitygw: %v", err)
		time.Sleep(15 * time.Second)
	}
}

// allowWrite is "--allow-write root" for cmd when this build has the flag.
func (b Bins) allowWrite(cmd, root string) []string {
	if !b.Allow[cmd] {
		return nil
	}
	return []string{"--allow-write", root}
}
