// Package s3test runs a real S3 server for tests: versitygw (posix
// backend) on 127.0.0.1, a free port and a temporary root, with fixed test
// credentials. Stop and Start simulate an outage (the restart keeps the
// port and the data), Freeze and Thaw a hung server.
//
// The versitygw binary is found through $SANAFARM_VERSITYGW, versitygw on
// PATH, ~/go/bin/versitygw or the cache of scripts/install-versitygw.sh
// ($SANAFARM_TOOLS, default ~/.cache/sanafarm/tools). Without it the test
// FAILS, saying how to install it: S3 tests never skip silently.
package s3test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"golang.org/x/sys/unix"
)

// Test credentials and region of every server.
const (
	AccessKey = "sanafarmtestkey"
	SecretKey = "sanafarm-test-secret-key-0123456789"
	Region    = "us-east-1"
)

// Version is the versitygw release scripts/install-versitygw.sh builds.
const Version = "v1.8.0"

// Server is a running (or stopped) versitygw.
type Server struct {
	t       testing.TB
	bin     string
	root    string
	sidecar string // "" when the root's filesystem has user xattrs
	logPath string
	port    int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts a server, waits until it answers, creates the buckets and
// stops it when the test ends.
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	bin, err := FindBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &Server{t: t, bin: bin, root: filepath.Join(dir, "root"), logPath: filepath.Join(dir, "versitygw.log")}
	if err := os.MkdirAll(s.root, 0o755); err != nil {
		t.Fatal(err)
	}
	if !hasXattrs(s.root) {
		s.sidecar = filepath.Join(dir, "meta")
		if err := os.MkdirAll(s.sidecar, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(s.Stop)
	for try := 0; ; try++ {
		if s.port, err = freePort(); err != nil {
			t.Fatal(err)
		}
		if err = s.start(); err == nil {
			break
		}
		if try == 2 {
			t.Fatalf("starting versitygw: %v", err)
		}
	}
	for _, b := range buckets {
		s.MakeBucket(b)
	}
	return s
}

// FindBinary locates versitygw or explains how to install it.
func FindBinary() (string, error) {
	var cands []string
	if p := os.Getenv("SANAFARM_VERSITYGW"); p != "" {
		cands = append(cands, p)
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		cands = append(cands, p)
	}
	home, _ := os.UserHomeDir()
	tools := os.Getenv("SANAFARM_TOOLS")
	if tools == "" && home != "" {
		tools = filepath.Join(home, ".cache", "sanafarm", "tools")
	}
	if home != "" {
		cands = append(cands, filepath.Join(home, "go", "bin", "versitygw"))
	}
	if tools != "" {
		cands = append(cands, filepath.Join(tools, "versitygw-"+Version, "versitygw"), filepath.Join(tools, "versitygw"))
	}
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	return "", fmt.Errorf("versitygw (the S3 server the S3 tests run against) not found in $SANAFARM_VERSITYGW, PATH, ~/go/bin or %s: "+
		"run scripts/install-versitygw.sh (go install github.com/versity/versitygw/cmd/versitygw@%s, ~3 min) and export SANAFARM_VERSITYGW=<the path it prints>",
		tools, Version)
}

// hasXattrs reports whether dir's filesystem stores user xattrs, which
// versitygw's posix backend keeps its metadata in (else: --sidecar).
func hasXattrs(dir string) bool {
	f, err := os.CreateTemp(dir, ".xattr-probe-*")
	if err != nil {
		return false
	}
	name := f.Name()
	f.Close()
	defer os.Remove(name)
	return unix.Setxattr(name, "user.sanafarm.probe", []byte("1"), 0) == nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Endpoint is the server's URL (plain HTTP).
func (s *Server) Endpoint() string { return "http://" + s.Addr() }

// Root is the posix directory the buckets live in.
func (s *Server) Root() string { return s.root }

// Client is a raw minio-go client of the server (path-style, no TLS).
func (s *Server) Client() *minio.Client {
	c, err := minio.New(s.Addr(), &minio.Options{
		Creds:        credentials.NewStaticV4(AccessKey, SecretKey, ""),
		Region:       Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// MakeBucket creates a bucket.
func (s *Server) MakeBucket(name string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Client().MakeBucket(ctx, name, minio.MakeBucketOptions{Region: Region}); err != nil {
		s.t.Fatalf("creating bucket %s: %v", name, err)
	}
}

// Start restarts a stopped server on the same port and root.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("restarting versitygw: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("versitygw is already running")
	}
	args := []string{"--access", AccessKey, "--secret", SecretKey, "--region", Region,
		"--port", s.Addr(), "--quiet", "posix"}
	if s.sidecar != "" {
		args = append(args, "--sidecar", s.sidecar)
	}
	args = append(args, s.root)
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	if err := s.waitReady(done); err != nil {
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%w\n%s", err, s.logTail())
	}
	s.cmd, s.done = cmd, done
	return nil
}

// waitReady polls ListBuckets until the server answers (30 s at most).
func (s *Server) waitReady(done <-chan struct{}) error {
	c, err := minio.New(s.Addr(), &minio.Options{Creds: credentials.NewStaticV4(AccessKey, SecretKey, ""), Region: Region})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err = c.ListBuckets(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("versitygw exited at start-up (port %d): %w", s.port, err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versitygw not ready on %s after 30 s: %w", s.Addr(), err)
		}
	}
}

// Freeze stops the server with SIGSTOP: a hung endpoint, whose
// connections stay open and whose port still accepts connections, while
// nothing answers. Thaw resumes it (SIGCONT).
func (s *Server) Freeze() error { return s.signal(unix.SIGSTOP) }

// Thaw resumes a frozen server.
func (s *Server) Thaw() error { return s.signal(unix.SIGCONT) }

func (s *Server) signal(sig unix.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return fmt.Errorf("versitygw: %v: not running", sig)
	}
	return s.cmd.Process.Signal(sig)
}

// Stop stops the server (a no-op when stopped): SIGTERM, SIGKILL after 5 s.
// A frozen server is resumed first, so that it can exit cleanly.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(unix.SIGCONT)
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "versitygw log:\n" + strings.Join(lines, "\n")
}
