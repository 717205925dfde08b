package shard

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"time"
	"unsafe"

	"github.com/sanafarm/sanafarm/kernels"
)

// abortSendTimeout bounds the best-effort abort notice.
const abortSendTimeout = 500 * time.Millisecond

// Message kinds.
const (
	kindData uint8 = iota + 1
	kindAbort
	kindBye
	kindBeat
)

// headerSize is the encoded size of header.
const headerSize = 32

// header precedes every chunk on the wire: tag is the collective's
// sequence number (and phase), off/total place the chunk in the message.
type header struct {
	kind       uint8
	enc        Encoding
	src        uint32
	tag        uint64
	off, total uint64
}

func (h header) put(b []byte) {
	b[0], b[1], b[2], b[3] = 's', h.kind, byte(h.enc), 0
	binary.LittleEndian.PutUint32(b[4:], h.src)
	binary.LittleEndian.PutUint64(b[8:], h.tag)
	binary.LittleEndian.PutUint64(b[16:], h.off)
	binary.LittleEndian.PutUint64(b[24:], h.total)
}

func parseHeader(b []byte) (header, error) {
	if len(b) < headerSize || b[0] != 's' {
		return header{}, fmt.Errorf("shard: malformed message of %d bytes", len(b))
	}
	return header{kind: b[1], enc: Encoding(b[2]), src: binary.LittleEndian.Uint32(b[4:]),
		tag: binary.LittleEndian.Uint64(b[8:]), off: binary.LittleEndian.Uint64(b[16:]),
		total: binary.LittleEndian.Uint64(b[24:])}, nil
}

// encode writes data little-endian in the encoding.
func encode(e Encoding, data []float32) []byte {
	if e == BF16 {
		b := make([]byte, 2*len(data))
		for i, v := range data {
			binary.LittleEndian.PutUint16(b[2*i:], kernels.F32ToBF16(v))
		}
		return b
	}
	if len(data) == 0 {
		return nil
	}
	if littleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), 4*len(data)) // the wire copies it
	}
	b := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// littleEndian reports a little-endian host, where f32 payloads are the
// in-memory bytes.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func decode(e Encoding, b []byte) ([]float32, error) {
	if e != F32 && e != BF16 {
		return nil, fmt.Errorf("shard: unknown payload encoding %d", e)
	}
	if len(b)%e.size() != 0 {
		return nil, fmt.Errorf("shard: payload of %d bytes is not %v values", len(b), e)
	}
	if e == F32 && littleEndian && len(b) > 0 && uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4), nil // b is the message's own buffer
	}
	out := make([]float32, len(b)/e.size())
	if e == BF16 {
		for i := range out {
			out[i] = kernels.BF16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		}
		return out, nil
	}
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}

// roundTrip returns data as a receiver would decode it.
func roundTrip(e Encoding, data []float32) ([]float32, error) {
	if e == F32 {
		return append([]float32(nil), data...), nil
	}
	return decode(e, encode(e, data))
}

// String names the encoding.
func (e Encoding) String() string {
	if e == BF16 {
		return "bf16"
	}
	return "f32"
}

type slotKey struct {
	src int
	tag uint64
}

// slot assembles one message from its chunks.
type slot struct {
	enc  Encoding
	buf  []byte
	got  uint64
	done chan struct{}
}

// mailbox holds the messages that arrived before (or while) their
// collective waits for them, and the group's failure.
type mailbox struct {
	size   int
	mu     sync.Mutex
	slots  map[slotKey]*slot
	err    error
	failed chan struct{}
}

func newMailbox(size int) *mailbox {
	return &mailbox{size: size, slots: map[slotKey]*slot{}, failed: make(chan struct{})}
}

func (b *mailbox) slotLocked(k slotKey) *slot {
	s := b.slots[k]
	if s == nil {
		s = &slot{done: make(chan struct{})}
		b.slots[k] = s
	}
	return s
}

// put stores one chunk.
func (b *mailbox) put(h header, payload []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil || int(h.src) >= b.size {
		return
	}
	s := b.slotLocked(slotKey{int(h.src), h.tag})
	if s.buf == nil {
		s.buf, s.enc = make([]byte, h.total), h.enc
	}
	if h.off+uint64(len(payload)) > uint64(len(s.buf)) || s.got >= h.total && h.total > 0 {
		b.failLocked(fmt.Errorf("shard: chunk [%d, +%d) of rank %d overruns its %d-byte message", h.off, len(payload), h.src, len(s.buf)))
		return
	}
	copy(s.buf[h.off:], payload)
	s.got += uint64(len(payload))
	if s.got == h.total {
		close(s.done)
	}
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
