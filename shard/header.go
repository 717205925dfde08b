package shard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/sanafarm/sanafarm/kernels"
)

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
		return header{}, fmt.Errorf("%w: %d bytes without a shard header", errBadMessage, len(b))
	}
	return header{kind: b[1], enc: Encoding(b[2]), src: binary.LittleEndian.Uint32(b[4:]),
		tag: binary.LittleEndian.Uint64(b[8:]), off: binary.LittleEndian.Uint64(b[16:]),
		total: binary.LittleEndian.Uint64(b[24:])}, nil
}

// errBadMessage marks a message refused on its header alone: it is
// dropped (and logged) and the group goes on.
var errBadMessage = errors.New("shard: bad message")

// maxAhead is how many collectives a peer's message may run ahead of this
// rank's: a rank cannot finish a collective without its neighbours'
// messages, so along a chain of size ranks none gets further ahead than
// size collectives; two more of slack.
func maxAhead(size int) uint64 { return uint64(size) + 2 }

// checkHeader validates the fields every message has: its kind and a
// sender that is a member of a group of size ranks.
func checkHeader(h header, size int) error {
	if h.kind < kindData || h.kind > kindBeat {
		return fmt.Errorf("%w: kind %d", errBadMessage, h.kind)
	}
	if int64(h.src) >= int64(size) {
		return fmt.Errorf("%w: sender rank %d of a group of %d", errBadMessage, h.src, size)
	}
	return nil
}

// checkData validates a data chunk's header against what the group can
// send: the group's encoding, a whole number of values no larger than
// maxMsg, a chunk inside it, and a collective (tag>>4, phase tag&15 of
// 0 or 1) no earlier than cur and at most maxAhead later.
func checkData(h header, n, size int, enc Encoding, maxMsg int64, cur uint64) error {
	col, phase := h.tag>>4, h.tag&15
	switch {
	case int64(h.src) >= int64(size):
		return fmt.Errorf("%w: sender rank %d of a group of %d", errBadMessage, h.src, size)
	case h.enc != enc:
		return fmt.Errorf("%w: encoding %d, the group uses %v", errBadMessage, h.enc, enc)
	case h.total > uint64(maxMsg):
		return fmt.Errorf("%w: message of %d bytes exceeds the %d-byte limit", errBadMessage, h.total, maxMsg)
	case h.total%uint64(enc.size()) != 0:
		return fmt.Errorf("%w: message of %d bytes is not whole %v values", errBadMessage, h.total, enc)
	case h.off > h.total || uint64(n) > h.total-h.off:
		return fmt.Errorf("%w: chunk [%d, +%d) outside its %d-byte message", errBadMessage, h.off, n, h.total)
	case phase > 1 || col == 0 || col < cur || col > cur+maxAhead(size):
		return fmt.Errorf("%w: message %#x outside collectives %d..%d", errBadMessage, h.tag, max(cur, 1), cur+maxAhead(size))
	}
	return nil
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
