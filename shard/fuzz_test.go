package shard

import (
	"testing"
)

// FuzzMailboxHeader feeds arbitrary messages to a rank's message path
// (header decoding, checks, mailbox): nothing panics, a refused message
// leaves the group up, and what the mailbox holds stays within its
// limits whatever the headers claim.
func FuzzMailboxHeader(f *testing.F) {
	seed := func(h header, n int) []byte {
		b := make([]byte, headerSize+n)
		h.put(b)
		return b
	}
	f.Add(seed(header{kind: kindData, src: 1, tag: 1 << 4, total: 8}, 8))
	f.Add(seed(header{kind: kindData, src: 1, tag: 1 << 4, total: 1 << 62}, 8))
	f.Add(seed(header{kind: kindData, src: 2, tag: 2<<4 | 1, off: 4, total: 12}, 4))
	f.Add(seed(header{kind: kindAbort, src: 1}, 3))
	f.Add(seed(header{kind: kindBeat, src: 0}, 0))
	f.Add([]byte("s"))
	const maxBuffered = 1 << 16
	f.Fuzz(func(t *testing.T, msg []byte) {
		c := newCore(0, 3, F32, Limits{MaxMessage: 1 << 14, MaxBuffered: maxBuffered})
		// The same message twice: the second is a following chunk.
		for range 2 {
			h, err := parseHeader(msg)
			if err != nil {
				return
			}
			err = c.deliver(h, msg[headerSize:])
			if err == nil && h.kind == kindData && h.total > 1<<14 {
				t.Fatalf("accepted a claim of %d bytes", h.total)
			}
		}
		c.box.mu.Lock()
		defer c.box.mu.Unlock()
		if c.box.buffered > maxBuffered {
			t.Fatalf("buffered %d bytes > %d", c.box.buffered, maxBuffered)
		}
		for k, s := range c.box.slots {
			if uint64(len(s.buf)) > s.total || cap(s.buf) > int(s.total) {
				t.Fatalf("slot %v holds %d (cap %d) of %d bytes", k, len(s.buf), cap(s.buf), s.total)
			}
		}
	})
}
