package coordinator

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// dialFrom connects to addr from the loopback address ip (all of
// 127.0.0.0/8 is loopback on Linux), as a client of its own.
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// refused reports whether the server closed c at once (EOF), waiting up to
// 5 s; a connection still open then was admitted.
func refused(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF) || err != nil && strings.Contains(err.Error(), "reset"):
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return false
	}
	t.Fatalf("read: %v", err)
	return false
}

// TestConnLimit: past its bound per client a connection is closed at
// once, other clients are still served up to the bound in all, and a
// closed connection frees its slot.
func TestConnLimit(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	ln := newConnLimitListener(inner, 3, 2, slog.New(slog.NewTextHandler(&logs, nil)), time.Now)
	defer ln.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	admit := func(c net.Conn) net.Conn {
		t.Helper()
		select {
		case s := <-accepted:
			return s
		case <-time.After(5 * time.Second):
			t.Fatalf("connection from %v not accepted", c.LocalAddr())
			return nil
		}
	}
	addr := inner.Addr().String()
	a1 := admit(dialFrom(t, "127.0.0.1", addr))
	admit(dialFrom(t, "127.0.0.1", addr))
	if !refused(t, dialFrom(t, "127.0.0.1", addr)) {
		t.Fatal("a third connection of one client was admitted (2 per client)")
	}
	admit(dialFrom(t, "127.0.0.2", addr))
	if !refused(t, dialFrom(t, "127.0.0.3", addr)) {
		t.Fatal("a fourth connection in all was admitted (3 in all)")
	}
	a1.Close()
	a1.Close() // a second Close frees nothing more
	admit(dialFrom(t, "127.0.0.1", addr))
	if !refused(t, dialFrom(t, "127.0.0.3", addr)) {
		t.Fatal("a connection past the bound in all was admitted after a double Close")
	}
	if n := strings.Count(logs.String(), "API connection refused"); n != 1 {
		t.Errorf("%d warnings for 3 refusals within a minute, want 1:\n%s", n, logs.String())
	}
}

// TestAPIConnLimit: the coordinator's API listener is bounded per client.
func TestAPIConnLimit(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) { cfg.HTTP.MaxConnsPerClient = 2 })
	addr := c.members[0].srv.HTTPAddr()
	for range 2 {
		if !answers(t, dialFrom(t, "127.0.0.1", addr)) {
			t.Fatal("a connection within the bound was refused")
		}
	}
	if answers(t, dialFrom(t, "127.0.0.1", addr)) {
		t.Fatal("a third connection of one client was served (2 per client)")
	}
	if !answers(t, dialFrom(t, "127.0.0.2", addr)) {
		t.Fatal("another client was refused")
	}
}

// answers reports whether the API answers a health request on c (false:
// the connection was closed).
func answers(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "HTTP/1.1 200")
}
