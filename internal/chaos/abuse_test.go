package chaos

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// abuseFor is how long api-abuse keeps up its pressure.
const abuseFor = 15 * time.Second

// abuseConns is how many connections the abuser keeps open to each
// coordinator: more than one client may hold (--max-conns-per-client 256).
const abuseConns = 300

// apiAbuse: once a shard is done, an abuser floods every coordinator's API
// for abuseFor. From 127.0.0.2 it keeps abuseConns connections open to
// each; from 127.0.0.1, the address of the farm's own CLI and API clients,
// it sends wrong tokens until that address is throttled. The coordinators
// must close the connections past the per-client bound at once, and the
// farm's clients, whose token is strong (32 bytes), must never be locked
// out: the job completes whole, polled all along.
func apiAbuse(t *testing.T, r *Result) {
	fr := newFarmRun(t, r)
	fr.waitDone(1)
	fr.faultNow()
	ctx, cancel := context.WithTimeout(context.Background(), abuseFor)
	defer cancel()
	var refused atomic.Int64
	var wg sync.WaitGroup
	for _, c := range fr.f.Coords {
		wg.Go(func() { holdConns(ctx, c.HTTP, &refused) })
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: fr.f.CA.Pool()}}}
	throttled := 0
	for ctx.Err() == nil {
		for _, c := range fr.f.Coords {
			if wrongToken(hc, c.HTTP) == http.StatusTooManyRequests {
				throttled++
			}
		}
		if _, err := fr.f.Coords[0].API.Nodes(context.Background()); err != nil { // needs the token
			t.Errorf("the farm's own client, with the right token, during the abuse: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("abuse: %d connections refused at accept, %d wrong tokens answered 429", refused.Load(), throttled)
	if refused.Load() == 0 || throttled == 0 {
		t.Errorf("the abuse was not bounded: %d connections refused, %d wrong tokens throttled", refused.Load(), throttled)
	}
	fr.finish()
}

// holdConns keeps abuseConns TCP connections from 127.0.0.2 open to addr
// until ctx ends, reopening those the server closes, and counts those it
// closed at once (within 500 ms of the dial).
func holdConns(ctx context.Context, addr string, refused *atomic.Int64) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: time.Second}
	sem := make(chan struct{}, abuseConns)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case sem <- struct{}{}:
		}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				return
			}
			defer c.Close()
			opened := time.Now()
			go func() { <-ctx.Done(); c.Close() }()
			_, err = c.Read(make([]byte, 1))
			if errors.Is(err, io.EOF) && time.Since(opened) < 500*time.Millisecond {
				refused.Add(1)
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// wrongToken sends a request with a wrong token and returns the status
// (0 on a transport error).
func wrongToken(hc *http.Client, addr string) int {
	req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/v1/jobs", nil)
	req.Header.Set("Authorization", "Bearer not-the-token")
	resp, err := hc.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
