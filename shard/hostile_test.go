package shard

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// TestMailboxRefusesClaims: a header's sizes, offsets, sender and
// sequence number are claims; none makes the mailbox allocate, and
// refused ones leave the group working.
func TestMailboxRefusesClaims(t *testing.T) {
	data := func(h header) header { h.kind, h.enc = kindData, F32; return h }
	for _, c := range []struct {
		name  string
		h     header
		n     int
		fails bool // the group fails (else the message is only refused)
	}{
		{"2^62 bytes", data(header{src: 1, tag: 1 << 4, total: 1 << 62}), 8, false},
		{"max total", data(header{src: 1, tag: 1 << 4, total: ^uint64(0) - 3}), 4, false},
		{"offset past total", data(header{src: 1, tag: 1 << 4, off: 1 << 40, total: 64}), 4, false},
		{"offset wraps", data(header{src: 1, tag: 1 << 4, off: ^uint64(0) - 1, total: 64}), 4, false},
		{"sender out of group", data(header{src: 1 << 31, tag: 1 << 4, total: 8}), 8, false},
		{"stale collective", data(header{src: 1, tag: 0, total: 8}), 8, false},
		{"far-future collective", data(header{src: 1, tag: 1 << 60, total: 8}), 8, false},
		{"bad phase", data(header{src: 1, tag: 1<<4 | 7, total: 8}), 8, false},
		{"other encoding", header{kind: kindData, enc: BF16, src: 1, tag: 1 << 4, total: 8}, 8, false},
		{"unknown kind", header{kind: 99, src: 1, tag: 1 << 4, total: 8}, 8, false},
		{"not whole values", data(header{src: 1, tag: 1 << 4, total: 7}), 7, false},
		{"first chunk not at 0", data(header{src: 1, tag: 1 << 4, off: 8, total: 64}), 8, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cr := newCore(0, 2, F32, Limits{MaxMessage: 1 << 20, MaxBuffered: 4 << 20})
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := cr.deliver(c.h, make([]byte, c.n))
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("accepted")
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
				t.Errorf("allocated %d bytes for a %d-byte chunk", grew, c.n)
			}
			if failed := cr.box.failure() != nil; failed != c.fails {
				t.Errorf("group failed: %v, want %v (err %v)", failed, c.fails, err)
			}
			if !c.fails && !errors.Is(err, errBadMessage) {
				t.Errorf("err %v is not errBadMessage", err)
			}
			t.Log(err)
		})
	}
}

// TestMailboxBuffered: bytes that actually arrive count against
// MaxBuffered; past it the group fails rather than grow.
func TestMailboxBuffered(t *testing.T) {
	cr := newCore(0, 3, F32, Limits{MaxMessage: 1 << 20, MaxBuffered: 1 << 20})
	chunk := make([]byte, 256<<10)
	var err error
	for i := 0; err == nil && i < 16; i++ {
		src, tag := uint32(1+i%2), uint64(1+i/8)<<4
		off := uint64(i%8/2) * 256 << 10
		err = cr.deliver(header{kind: kindData, enc: F32, src: src, tag: tag, off: off, total: 1 << 20}, chunk)
	}
	if err == nil || cr.box.failure() == nil {
		t.Fatalf("buffered 4 MiB past a 1 MiB limit: err %v", err)
	}
	if cr.box.buffered > 1<<20 {
		t.Errorf("buffered %d bytes > the 1 MiB limit", cr.box.buffered)
	}
	t.Log(err)
}

// TestNATSHostilePublisher: any NATS client can publish on a group's
// subjects; claims of 2^62 bytes, senders outside the group, another
// node's rank and garbage are dropped, and the group keeps working.
func TestNATSHostilePublisher(t *testing.T) {
	url := startNATS(t, 0)
	ts := natsGroup(t, 2, func(k int) NATSConfig {
		return NATSConfig{URL: url, Group: "hostile", Rank: k, Size: 2, Peers: []string{"a", "b"}}
	})
	evil := connect(t, url)
	msg := func(h header, n int) []byte {
		b := make([]byte, headerSize+n)
		h.put(b)
		return b
	}
	for _, m := range []struct {
		subj string
		data []byte
	}{
		{"sanafarm.shard.b.hostile.r0", msg(header{kind: kindData, src: 1, tag: 1 << 4, total: 1 << 62}, 1024)},
		{"sanafarm.shard.b.hostile.all", msg(header{kind: kindData, src: 1, tag: 1 << 4, off: 1 << 61, total: 1 << 62}, 8)},
		{"sanafarm.shard.b.hostile.r0", msg(header{kind: kindData, src: 7, tag: 1 << 4, total: 8}, 8)},
		{"sanafarm.shard.evil.hostile.r0", msg(header{kind: kindAbort, src: 1}, 8)}, // rank 1 is node b
		{"sanafarm.shard.evil.hostile.hb", msg(header{kind: kindBeat, src: 1}, 0)},
		{"sanafarm.shard.b.hostile.r0", []byte("garbage")},
		{"sanafarm.shard.b.hostile.r0", msg(header{kind: kindData, src: 1, tag: 1 << 4, total: 8}, 8)[:headerSize-1]},
	} {
		if err := evil.Publish(m.subj, m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := evil.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	for k, tr := range ts {
		if err := tr.box.failure(); err != nil {
			t.Fatalf("rank %d failed: %v", k, err)
		}
	}
	allReduceOK(t, ts)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := onRanks(2, func(k int) ([][]float32, error) { return ts[k].AllGather(ctx, make([]float32, 300000)) }); err != nil {
		t.Fatal(err)
	}
}
