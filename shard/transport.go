package shard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sanafarm/sanafarm/model/dit"
)

// Transport connects the ranks of one parallel group. Collectives are
// called by every rank in the same order (one at a time); each carries a
// sequence number, so messages of different steps and blocks never mix.
// After any error the transport is broken and must be closed.
type Transport interface {
	dit.Comm
	// Stats returns the traffic counted so far.
	Stats() Stats
	// Abort breaks the group: every rank's pending and later collectives
	// fail with an error naming cause.
	Abort(cause error)
	// Close leaves the group; the other ranks' collectives then fail.
	Close() error
}

// Stats counts what a transport moved: payload bytes (after encoding,
// without headers) and messages as sent by this rank and received by it.
type Stats struct {
	BytesSent, BytesRecv int64
	MsgsSent, MsgsRecv   int64
	Collectives          int64
}

// Errors a broken group reports (wrapped with the rank concerned).
var (
	ErrPeerLost = errors.New("shard: peer lost")
	ErrAborted  = errors.New("shard: group aborted")
	ErrClosed   = errors.New("shard: transport closed")
)

// Encoding is the on-wire format of float payloads.
type Encoding uint8

// Encodings. BF16 halves the bytes at 8 bits of mantissa; the reduction
// itself always accumulates in float32.
const (
	F32 Encoding = iota
	BF16
)

func (e Encoding) size() int {
	if e == BF16 {
		return 2
	}
	return 4
}

// abortSendTimeout bounds the best-effort abort notice.
const abortSendTimeout = 500 * time.Millisecond

// wire moves encoded messages between the ranks of a group.
type wire interface {
	// send delivers msg to rank to, or to every other rank when to < 0.
	send(ctx context.Context, to int, h header, payload []byte) error
	close() error
}

// core implements the collectives over a wire and a mailbox.
type core struct {
	rank, size int
	enc        Encoding
	w          wire
	box        *mailbox

	mu    sync.Mutex // one collective at a time
	seq   uint64
	stats struct{ bytesSent, bytesRecv, msgsSent, msgsRecv, colls atomic.Int64 }
}

func newCore(rank, size int, enc Encoding, lim Limits) *core {
	return &core{rank: rank, size: size, enc: enc, box: newMailbox(size, enc, lim)}
}

// Rank is this rank's index.
func (c *core) Rank() int { return c.rank }

// Size is the number of ranks.
func (c *core) Size() int { return c.size }

// Stats returns the traffic counted so far.
func (c *core) Stats() Stats {
	return Stats{BytesSent: c.stats.bytesSent.Load(), BytesRecv: c.stats.bytesRecv.Load(),
		MsgsSent: c.stats.msgsSent.Load(), MsgsRecv: c.stats.msgsRecv.Load(), Collectives: c.stats.colls.Load()}
}

// next returns the tag base of a new collective (phases use the low bits).
func (c *core) next() uint64 {
	c.seq++
	c.stats.colls.Add(1)
	c.box.begin(c.seq)
	return c.seq << 4
}

func (c *core) post(ctx context.Context, to int, tag uint64, data []float32) error {
	payload := encode(c.enc, data)
	n := int64(1)
	if to < 0 {
		n = int64(c.size - 1)
	}
	c.stats.bytesSent.Add(int64(len(payload)) * n)
	c.stats.msgsSent.Add(n)
	if err := c.w.send(ctx, to, header{kind: kindData, enc: c.enc, src: uint32(c.rank), tag: tag}, payload); err != nil {
		c.box.fail(fmt.Errorf("shard: rank %d sending: %w", c.rank, err))
		return err
	}
	return nil
}

func (c *core) take(ctx context.Context, from int, tag uint64) ([]float32, error) {
	enc, b, err := c.box.recv(ctx, from, tag)
	if err != nil {
		return nil, err
	}
	c.stats.bytesRecv.Add(int64(len(b)))
	c.stats.msgsRecv.Add(1)
	return decode(enc, b)
}

// span returns element range k of n split into size parts.
func span(n, k, size int) (lo, hi int) { return dit.Band(n, k, size) }

// AllReduce sums buf over the ranks: a reduce-scatter (rank k owns part k
// and adds the parts in rank order) then an all-gather of the reduced
// parts, so every rank ends with bitwise identical values and moves
// 2(d−1)/d of the buffer.
func (c *core) AllReduce(ctx context.Context, buf []float32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.size == 1 {
		return nil
	}
	tag := c.next()
	if c.size == 2 {
		return c.allReducePair(ctx, tag, buf)
	}
	for k := range c.size {
		if k != c.rank {
			lo, hi := span(len(buf), k, c.size)
			if err := c.post(ctx, k, tag, buf[lo:hi]); err != nil {
				return err
			}
		}
	}
	lo, hi := span(len(buf), c.rank, c.size)
	acc := make([]float32, hi-lo)
	for k := range c.size {
		part := buf[lo:hi]
		if k != c.rank {
			var err error
			if part, err = c.take(ctx, k, tag); err != nil {
				return err
			}
			if len(part) != hi-lo {
				return fmt.Errorf("shard: all-reduce part from rank %d has %d values, want %d", k, len(part), hi-lo)
			}
		}
		for i, v := range part {
			acc[i] += v
		}
	}
	mine, err := roundTrip(c.enc, acc)
	if err != nil {
		return err
	}
	copy(buf[lo:hi], mine)
	return c.gatherInto(ctx, tag|1, buf, acc)
}

// allReducePair is the all-reduce of two ranks in one phase: each sends
// its whole buffer and adds the other's (the same bytes as reduce-scatter
// plus all-gather, without the second round trip). a+b = b+a exactly, so
// both ranks agree bitwise.
func (c *core) allReducePair(ctx context.Context, tag uint64, buf []float32) error {
	if err := c.post(ctx, 1-c.rank, tag, buf); err != nil {
		return err
	}
	other, err := c.take(ctx, 1-c.rank, tag)
	if err != nil {
		return err
	}
	if len(other) != len(buf) {
		return fmt.Errorf("shard: all-reduce from rank %d has %d values, want %d", 1-c.rank, len(other), len(buf))
	}
	if c.enc != F32 {
		mine, err := roundTrip(c.enc, buf)
		if err != nil {
			return err
		}
		copy(buf, mine)
	}
	for i, v := range other {
		buf[i] += v
	}
	return nil
}

// gatherInto broadcasts own (this rank's part of buf) and fills the other
// parts of buf from the other ranks.
func (c *core) gatherInto(ctx context.Context, tag uint64, buf, own []float32) error {
	if err := c.post(ctx, -1, tag, own); err != nil {
		return err
	}
	for k := range c.size {
		if k == c.rank {
			continue
		}
		part, err := c.take(ctx, k, tag)
		if err != nil {
			return err
		}
		lo, hi := span(len(buf), k, c.size)
		if len(part) != hi-lo {
			return fmt.Errorf("shard: all-reduce part from rank %d has %d values, want %d", k, len(part), hi-lo)
		}
		copy(buf[lo:hi], part)
	}
	return nil
}

// AllGather returns every rank's in (as the wire encoding rounds it, the
// own part included), indexed by rank.
func (c *core) AllGather(ctx context.Context, in []float32) ([][]float32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tag := c.next()
	out := make([][]float32, c.size)
	var err error
	if out[c.rank], err = roundTrip(c.enc, in); err != nil {
		return nil, err
	}
	if c.size == 1 {
		return out, nil
	}
	if err := c.post(ctx, -1, tag, in); err != nil {
		return nil, err
	}
	for k := range c.size {
		if k != c.rank {
			if out[k], err = c.take(ctx, k, tag); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// Exchange swaps halo rows with the neighbours rank−1 and rank+1.
func (c *core) Exchange(ctx context.Context, toPrev, toNext []float32) (fromPrev, fromNext []float32, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tag := c.next()
	prev, next := c.rank-1, c.rank+1
	if prev >= 0 {
		if err := c.post(ctx, prev, tag, toPrev); err != nil {
			return nil, nil, err
		}
	}
	if next < c.size {
		if err := c.post(ctx, next, tag, toNext); err != nil {
			return nil, nil, err
		}
	}
	if prev >= 0 {
		if fromPrev, err = c.take(ctx, prev, tag); err != nil {
			return nil, nil, err
		}
	}
	if next < c.size {
		if fromNext, err = c.take(ctx, next, tag); err != nil {
			return nil, nil, err
		}
	}
	return fromPrev, fromNext, nil
}

// Abort breaks the group locally and tells the other ranks. A rank whose
// own work was cancelled (its node stopping or killed) leaves the group:
// the others see a lost peer, as they would had its process died.
func (c *core) Abort(cause error) {
	c.box.fail(fmt.Errorf("%w by rank %d: %v", ErrAborted, c.rank, cause))
	h, msg := header{kind: kindAbort, src: uint32(c.rank)}, []byte(cause.Error())
	if errors.Is(cause, context.Canceled) {
		h.kind, msg = kindBye, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), abortSendTimeout)
	defer cancel()
	_ = c.w.send(ctx, -1, h, msg) // best effort: peers also time out
}

// deliver is called by the wire for every arriving message; an error
// is a message refused (errBadMessage: dropped, the group goes on) or one
// that failed the group.
func (c *core) deliver(h header, payload []byte) error {
	if err := checkHeader(h, c.size); err != nil {
		return err
	}
	switch h.kind {
	case kindData:
		return c.box.put(h, payload)
	case kindAbort:
		c.box.fail(fmt.Errorf("%w by rank %d: %.200s", ErrAborted, h.src, payload))
	case kindBye:
		c.box.fail(fmt.Errorf("%w: rank %d left the group", ErrPeerLost, h.src))
	}
	return nil
}
