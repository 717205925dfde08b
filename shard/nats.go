package shard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// NATSConfig configures one rank of a NATS transport.
type NATSConfig struct {
	// URL of the NATS server (every rank of a group uses the same cluster).
	URL string
	// Conn, if set, is an existing connection to use instead of dialing
	// URL (a node's own connection): the transport subscribes on it and
	// unsubscribes on Close but never closes it. Its loss shows as
	// failing heartbeats (this rank) and silence (the other ranks).
	Conn *nats.Conn
	// Group names the group uniquely on the server (e.g. the task id);
	// subjects are "sanafarm.shard.<Group>.{r<rank>,all,hb}".
	Group      string
	Rank, Size int
	// Encoding of float payloads (default F32).
	Encoding Encoding
	// Heartbeat is the interval of liveness messages (default 100 ms);
	// a peer silent for PeerTimeout (default 1 s) fails the group.
	Heartbeat, PeerTimeout time.Duration
	// Logger receives group events (default: discard).
	Logger *slog.Logger
}

// NATS is a Transport over a NATS server: messages are cut into chunks
// under the server's max_payload, a 32-byte header carries the sender,
// the collective's sequence number and the chunk's place; every rank
// publishes heartbeats and watches the others'.
type NATS struct {
	*core
	nc     *nats.Conn
	cfg    NATSConfig
	log    *slog.Logger
	prefix string
	subs   []*nats.Subscription
	seen   []atomic.Int64 // unix nanos of each peer's last message
	stop   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

var _ Transport = (*NATS)(nil)

// NewNATS connects rank cfg.Rank and waits (bounded by ctx) until every
// other rank of the group is heard from, so no message is published
// before its receiver has subscribed.
func NewNATS(ctx context.Context, cfg NATSConfig) (*NATS, error) {
	if cfg.Size < 1 || cfg.Rank < 0 || cfg.Rank >= cfg.Size || cfg.Group == "" {
		return nil, fmt.Errorf("shard: nats rank %d of %d in group %q", cfg.Rank, cfg.Size, cfg.Group)
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 100 * time.Millisecond
	}
	if cfg.PeerTimeout <= 0 {
		cfg.PeerTimeout = time.Second
	}
	t := &NATS{core: newCore(cfg.Rank, cfg.Size, cfg.Encoding), cfg: cfg, log: cfg.Logger,
		prefix: "sanafarm.shard." + cfg.Group + ".", seen: make([]atomic.Int64, cfg.Size), stop: make(chan struct{})}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	t.log = t.log.With("rank", cfg.Rank, "group", cfg.Group)
	if err := t.connect(); err != nil {
		return nil, err
	}
	t.w = natsWire{t}
	t.wg.Add(1)
	go t.beat()
	if err := t.waitPeers(ctx); err != nil {
		t.shutdown()
		return nil, err
	}
	t.wg.Add(1)
	go t.watch()
	return t, nil
}

func (t *NATS) connect() error {
	if t.cfg.Conn != nil {
		t.nc = t.cfg.Conn
		return t.subscribe()
	}
	lost := func(err error) {
		if err == nil {
			err = errors.New("connection closed")
		}
		t.box.fail(fmt.Errorf("shard: rank %d lost its nats connection: %w", t.rank, err))
	}
	nc, err := nats.Connect(t.cfg.URL, nats.NoEcho(), nats.NoReconnect(),
		nats.Name(fmt.Sprintf("sanafarm shard %s rank %d", t.cfg.Group, t.rank)),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { lost(err) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { lost(err) }))
	if err != nil {
		return fmt.Errorf("shard: rank %d connecting to nats: %w", t.rank, err)
	}
	t.nc = nc
	if err := t.subscribe(); err != nil {
		nc.Close()
		return err
	}
	return nil
}

// subscribe listens on this rank's, the group's and the heartbeat subjects.
func (t *NATS) subscribe() error {
	nc := t.nc
	for _, subj := range []string{fmt.Sprintf("r%d", t.rank), "all", "hb"} {
		sub, err := nc.Subscribe(t.prefix+subj, t.onMsg)
		if err == nil {
			err = sub.SetPendingLimits(-1, -1)
		}
		if err != nil {
			t.unsubscribe()
			return fmt.Errorf("shard: rank %d subscribing to %s: %w", t.rank, t.prefix+subj, err)
		}
		t.subs = append(t.subs, sub)
	}
	if err := nc.Flush(); err != nil {
		t.unsubscribe()
		return fmt.Errorf("shard: rank %d subscribing: %w", t.rank, err)
	}
	return nil
}

func (t *NATS) unsubscribe() {
	for _, sub := range t.subs {
		_ = sub.Unsubscribe()
	}
	t.subs = nil
}

func (t *NATS) onMsg(m *nats.Msg) {
	h, err := parseHeader(m.Data)
	if err != nil || int(h.src) >= t.size {
		t.box.fail(fmt.Errorf("shard: rank %d on %s: %w", t.rank, m.Subject, err))
		return
	}
	if int(h.src) == t.rank {
		return // our own broadcast echoed by a shared connection
	}
	t.seen[h.src].Store(time.Now().UnixNano())
	if h.kind != kindBeat {
		t.deliver(h, m.Data[headerSize:])
	}
}

// beat publishes this rank's heartbeat until Close.
func (t *NATS) beat() {
	defer t.wg.Done()
	tick := time.NewTicker(t.cfg.Heartbeat)
	defer tick.Stop()
	var b [headerSize]byte
	header{kind: kindBeat, src: uint32(t.rank)}.put(b[:])
	for {
		if err := t.nc.Publish(t.prefix+"hb", b[:]); err != nil {
			t.box.fail(fmt.Errorf("shard: rank %d heartbeat: %w", t.rank, err))
		}
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
	}
}

// waitPeers returns once every other rank has been heard from.
func (t *NATS) waitPeers(ctx context.Context) error {
	tick := time.NewTicker(t.cfg.Heartbeat / 4)
	defer tick.Stop()
	for {
		missing := -1
		for k := range t.size {
			if k != t.rank && t.seen[k].Load() == 0 {
				missing = k
				break
			}
		}
		if missing < 0 {
			t.log.Debug("shard group complete", "size", t.size)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("shard: rank %d waiting for rank %d to join: %w", t.rank, missing, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// watch fails the group when a peer falls silent for PeerTimeout.
func (t *NATS) watch() {
	defer t.wg.Done()
	tick := time.NewTicker(t.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case now := <-tick.C:
			for k := range t.size {
				if k == t.rank {
					continue
				}
				if idle := now.Sub(time.Unix(0, t.seen[k].Load())); idle > t.cfg.PeerTimeout {
					t.log.Warn("shard peer lost", "peer", k, "silent", idle)
					t.box.fail(fmt.Errorf("%w: rank %d silent for %v", ErrPeerLost, k, idle.Round(time.Millisecond)))
					return
				}
			}
		}
	}
}

// Close tells the group this rank leaves, then disconnects.
func (t *NATS) Close() error {
	var err error
	t.once.Do(func() {
		t.box.fail(ErrClosed)
		var b [headerSize]byte
		header{kind: kindBye, src: uint32(t.rank)}.put(b[:])
		_ = t.nc.Publish(t.prefix+"all", b[:])
		err = t.nc.Flush()
		t.shutdown()
	})
	return err
}

func (t *NATS) shutdown() {
	select {
	case <-t.stop:
	default:
		close(t.stop)
	}
	if t.cfg.Conn != nil {
		t.unsubscribe()
	} else {
		t.nc.Close()
	}
	t.wg.Wait()
}

type natsWire struct{ t *NATS }

// send publishes payload in chunks that, with their header, fit the
// server's max_payload.
func (w natsWire) send(ctx context.Context, to int, h header, payload []byte) error {
	t := w.t
	subj := t.prefix + "all"
	if to >= 0 {
		subj = fmt.Sprintf("%sr%d", t.prefix, to)
	}
	chunk := int(t.nc.MaxPayload()) - headerSize
	buf := make([]byte, headerSize+min(chunk, len(payload)))
	h.total = uint64(len(payload))
	for off := 0; off == 0 || off < len(payload); off += chunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(chunk, len(payload)-off)
		h.off = uint64(off)
		h.put(buf)
		copy(buf[headerSize:], payload[off:off+n])
		if err := t.nc.Publish(subj, buf[:headerSize+n]); err != nil {
			return fmt.Errorf("publishing to %s: %w", subj, err)
		}
		if len(payload) == 0 {
			break
		}
	}
	return nil
}

func (w natsWire) close() error { return w.t.Close() }
