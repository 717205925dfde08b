package shard

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestNATSSharedConn runs a group on connections the ranks do not own (a
// node's connection, with echo on): collectives work, Close leaves the
// connection open, and a rank whose connection drops is lost to the others.
func TestNATSSharedConn(t *testing.T) {
	url := startNATS(t, 0)
	conns := make([]*nats.Conn, 2)
	for k := range conns {
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		conns[k] = nc
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ts := make([]*NATS, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for k := range ts {
		wg.Go(func() {
			ts[k], errs[k] = NewNATS(ctx, NATSConfig{Conn: conns[k], Group: "shared", Rank: k, Size: 2, PeerTimeout: 500 * time.Millisecond})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	sums, err := onRanks(2, func(k int) ([]float32, error) {
		buf := []float32{float32(k + 1), 10}
		return buf, ts[k].AllReduce(ctx, buf)
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, s := range sums {
		if s[0] != 3 || s[1] != 20 {
			t.Errorf("rank %d: all-reduce %v, want [3 20]", k, s)
		}
	}
	conns[1].Close() // rank 1's node dies
	start := time.Now()
	err = ts[0].AllReduce(ctx, []float32{1})
	if !errors.Is(err, ErrPeerLost) {
		t.Fatalf("rank 0 after rank 1's connection dropped: %v, want %v", err, ErrPeerLost)
	}
	t.Logf("peer loss seen after %v", time.Since(start))
	ts[0].Close()
	ts[1].Close()
	if conns[0].IsClosed() {
		t.Error("Close closed the shared connection")
	}
}
