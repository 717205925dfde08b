package shard

import (
	"context"
	"fmt"
	"sync"
)

// Limits bound what a rank holds for its peers. Sizes on the wire are
// claims: nothing is allocated from a header, only from bytes that
// arrived, and within these bounds.
type Limits struct {
	// MaxMessage is the largest payload one collective message may claim
	// (default DefaultMaxMessage). Larger claims are refused.
	MaxMessage int64
	// MaxBuffered bounds the bytes held for messages not yet taken by
	// their collective, over all peers (default DefaultMaxBuffered);
	// exceeding it fails the group.
	MaxBuffered int64
}

// Default limits: the largest legitimate message is a full activation of
// a 4096-px Sana 1600M image (16384 tokens × 2240 channels × 4 bytes ≈
// 147 MB); a collective buffers at most one message per peer.
const (
	DefaultMaxMessage  = 256 << 20
	DefaultMaxBuffered = 1 << 30
)

func (l Limits) withDefaults() Limits {
	if l.MaxMessage <= 0 {
		l.MaxMessage = DefaultMaxMessage
	}
	if l.MaxBuffered <= 0 {
		l.MaxBuffered = DefaultMaxBuffered
	}
	return l
}

type slotKey struct {
	src int
	tag uint64
}

// slot assembles one message from its chunks, which arrive in order (one
// publisher, one subject).
type slot struct {
	enc   Encoding
	total uint64 // claimed size: checked, never allocated up front
	buf   []byte
	done  chan struct{}
}

// mailbox holds the messages that arrived before (or while) their
// collective waits for them, and the group's failure.
type mailbox struct {
	size     int
	enc      Encoding
	lim      Limits
	mu       sync.Mutex
	slots    map[slotKey]*slot
	cur      uint64 // the collective this rank is in (tag >> 4)
	buffered int64  // capacity of the slots' buffers
	err      error
	failed   chan struct{}
}

func newMailbox(size int, enc Encoding, lim Limits) *mailbox {
	return &mailbox{size: size, enc: enc, lim: lim.withDefaults(), slots: map[slotKey]*slot{}, failed: make(chan struct{})}
}

func (b *mailbox) slotLocked(k slotKey) *slot {
	s := b.slots[k]
	if s == nil {
		s = &slot{done: make(chan struct{})}
		b.slots[k] = s
	}
	return s
}

// begin records that this rank entered collective seq: messages of
// earlier collectives can no longer be legitimate.
func (b *mailbox) begin(seq uint64) {
	b.mu.Lock()
	b.cur = seq
	b.mu.Unlock()
}

// put stores one data chunk. A chunk whose header is wrong on its own
// (errBadMessage) is refused and the group goes on; one that contradicts
// the chunks before it, or would exceed MaxBuffered, fails the group.
func (b *mailbox) put(h header, payload []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return nil
	}
	if err := checkData(h, len(payload), b.size, b.enc, b.lim.MaxMessage, b.cur); err != nil {
		return err
	}
	s := b.slotLocked(slotKey{int(h.src), h.tag})
	if err := b.append(s, h, payload); err != nil {
		err = fmt.Errorf("shard: rank %d message %#x: %w", h.src, h.tag, err)
		b.failLocked(err)
		return err
	}
	if uint64(len(s.buf)) == s.total {
		close(s.done)
	}
	return nil
}

// append adds the chunk at the end of s, growing its buffer at most
// twofold and never past the claimed total.
func (b *mailbox) append(s *slot, h header, payload []byte) error {
	n := uint64(len(payload))
	switch {
	case s.buf == nil && h.off != 0:
		return fmt.Errorf("first chunk at offset %d, want 0", h.off)
	case s.buf != nil && (h.total != s.total || h.enc != s.enc):
		return fmt.Errorf("chunk claims %d bytes of %v, the message began as %d bytes of %v", h.total, h.enc, s.total, s.enc)
	case s.buf != nil && h.off != uint64(len(s.buf)):
		return fmt.Errorf("chunk at offset %d, want %d", h.off, len(s.buf))
	case s.buf != nil && uint64(len(s.buf)) == s.total:
		return fmt.Errorf("chunk after the message's %d bytes were complete", s.total)
	case h.off+n > h.total:
		return fmt.Errorf("chunk [%d, +%d) overruns its %d-byte message", h.off, n, h.total)
	}
	if s.buf == nil {
		s.enc, s.total, s.buf = h.enc, h.total, []byte{}
	}
	if need := len(s.buf) + len(payload); need > cap(s.buf) {
		grown := min(int(s.total), max(need, 2*cap(s.buf)))
		if b.buffered+int64(grown-cap(s.buf)) > b.lim.MaxBuffered {
			return fmt.Errorf("buffering %d more bytes exceeds the %d-byte limit", grown-cap(s.buf), b.lim.MaxBuffered)
		}
		b.buffered += int64(grown - cap(s.buf))
		nb := make([]byte, len(s.buf), grown)
		copy(nb, s.buf)
		s.buf = nb
	}
	s.buf = append(s.buf, payload...)
	return nil
}

// recv waits for the whole message tag from rank src. A message that
// arrived complete before the group broke is still returned: a peer that
// sends its last message and leaves (Close) does not fail the collective
// that message completes.
func (b *mailbox) recv(ctx context.Context, src int, tag uint64) (Encoding, []byte, error) {
	k := slotKey{src, tag}
	b.mu.Lock()
	s := b.slotLocked(k)
	b.mu.Unlock()
	select {
	case <-s.done:
	case <-b.failed:
		select {
		case <-s.done:
		default:
			return 0, nil, b.failure()
		}
	case <-ctx.Done():
		err := fmt.Errorf("shard: waiting for rank %d: %w", src, context.Cause(ctx))
		b.fail(err)
		return 0, nil, err
	}
	b.mu.Lock()
	delete(b.slots, k)
	b.buffered -= int64(cap(s.buf))
	b.mu.Unlock()
	return s.enc, s.buf, nil
}

func (b *mailbox) failure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// fail breaks the group with err (the first failure wins).
func (b *mailbox) fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failLocked(err)
}

func (b *mailbox) failLocked(err error) {
	if b.err == nil {
		b.err = err
		close(b.failed)
	}
}
