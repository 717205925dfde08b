package main

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/sanafarm/sanafarm/internal/syncbuf"
)

func startPasswordNATS(t *testing.T, port int, pass string) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, Username: "farm", Password: pass, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	return s
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Issue #13 item 4: the password of a NATS URL never reaches the log
// (reconnect) or the error (failed connect).
func TestNATSPasswordNotLogged(t *testing.T) {
	const pass, token = "Sup3rSecretNatsPassw0rd", "T0kenSecretValue"
	port := freePort(t)
	srv := startPasswordNATS(t, port, pass)
	var out syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	nc, err := connectNATS(fmt.Sprintf("nats://farm:%s@127.0.0.1:%d", pass, port), "test", log)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	srv.Shutdown()
	srv.WaitForShutdown()
	srv = startPasswordNATS(t, port, pass)
	defer srv.Shutdown()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "nats reconnected") {
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect logged:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, url := range []string{
		fmt.Sprintf("nats://farm:wrong%s@127.0.0.1:%d", pass, port),   // refused by the server
		fmt.Sprintf("nats://farm:%s@127.0.0.1:%d", pass, freePort(t)), // nothing listens
		fmt.Sprintf("nats://%s@127.0.0.1:%d", token, freePort(t)),     // token auth
	} {
		_, err := connectNATS(url, "test", log)
		if err == nil {
			t.Fatalf("connecting with %s succeeded", url)
		}
		out.Write([]byte(err.Error() + "\n"))
	}
	if s := out.String(); strings.Contains(s, pass) || strings.Contains(s, token) {
		t.Errorf("a secret reached the log or an error:\n%s", s)
	}
}

// TestNATSURLFromEnv: without --nats the URL (and its password) comes
// from $SANAFARM_NATS_URL, so the units keep it off the command line.
func TestNATSURLFromEnv(t *testing.T) {
	t.Setenv(envNATSURL, "")
	if got := natsURLOrEnv(""); got != defaultNATSURL {
		t.Errorf("no flag, no variable: %q", got)
	}
	t.Setenv(envNATSURL, "tls://node:pw@h:4222")
	if got := natsURLOrEnv(""); got != "tls://node:pw@h:4222" {
		t.Errorf("from the variable: %q", got)
	}
	if got := natsURLOrEnv("nats://x:4222"); got != "nats://x:4222" {
		t.Errorf("the flag wins: %q", got)
	}
}
