package shard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/internal/mono"
	"github.com/sanafarm/sanafarm/internal/redact"
	"github.com/sanafarm/sanafarm/protocol"
)

// DefaultMaxPending bounds the bytes a rank's connection queues before
// its handler takes them; past it the client drops messages and the
// group fails (a slow consumer), instead of growing without bound.
const DefaultMaxPending = 256 << 20

// NATSConfig configures one rank of a NATS transport. Every rank dials
// its own connection (never the node's control connection): its buffers
// are bounded and its loss fails only the group.
type NATSConfig struct {
	// URL of the NATS server (every rank of a group uses the same cluster).
	URL string
	// Options, if set, are dialled instead of URL: a copy of the node's
	// connection options (servers, credentials, TLS), e.g. &nc.Opts. The
	// transport sets its own name, handlers and no-reconnect.
	Options *nats.Options
	// Group names the group uniquely on the server (protocol.GroupName):
	// one subject token.
	Group      string
	Rank, Size int
	// Peers are the node ids by rank (protocol.Assignment.Peers). A rank
	// publishes under "sanafarm.shard.<its id>.<Group>." (protocol.
	// ShardPublish, which a per-node NATS user is limited to) and drops
	// messages whose sender rank is not the subject's node. Empty: ranks
	// are named r0, r1, ….
	Peers []string
	// Addressed: every message goes to its recipient's own subjects,
	// "sanafarm.shard.<sender>.<Group>.<recipient id>.{d,hb}", and a rank
	// subscribes only to its own (protocol.ShardSubscribe, which a
	// per-node NATS user is limited to), so no other node can read the
	// group's traffic; a broadcast is one publish per peer. Otherwise
	// (nodes of earlier releases, protocol.Assignment.Addressed unset) the
	// recipients are "r<rank>", "all" and "hb", open to any subscriber.
	Addressed bool
	// Encoding of float payloads (default F32).
	Encoding Encoding
	// Heartbeat is the interval of liveness messages (default 100 ms);
	// a peer silent for PeerTimeout (default 1 s) fails the group.
	Heartbeat, PeerTimeout time.Duration
	// Limits bound what is buffered for the peers.
	Limits Limits
	// MaxPending bounds each subscription's queue in bytes (default
	// DefaultMaxPending).
	MaxPending int64
	// Logger receives group events (default: discard).
	Logger *slog.Logger
}

// NATS is a Transport over a NATS server: messages are cut into chunks
// under the server's max_payload, a 32-byte header carries the sender,
// the collective's sequence number and the chunk's place; every rank
// publishes heartbeats and watches the others'.
type NATS struct {
	*core
	nc      *nats.Conn
	cfg     NATSConfig
	log     *slog.Logger
	pub     string   // this rank's subject prefix
	senders []string // subject token of each rank
	subs    []*nats.Subscription
	seen    []atomic.Int64 // each peer's last message (a stamp of mono; 0: none yet)
	mono    mono.Clock     // monotonic, so a stepped wall clock loses no peer
	drops   dropLog
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

var _ Transport = (*NATS)(nil)

// NewNATS connects rank cfg.Rank and waits (bounded by ctx) until every
// other rank of the group is heard from, so no message is published
// before its receiver has subscribed.
func NewNATS(ctx context.Context, cfg NATSConfig) (*NATS, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 100 * time.Millisecond
	}
	if cfg.PeerTimeout <= 0 {
		cfg.PeerTimeout = time.Second
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	t := &NATS{core: newCore(cfg.Rank, cfg.Size, cfg.Encoding, cfg.Limits), cfg: cfg, log: cfg.Logger,
		senders: make([]string, cfg.Size), seen: make([]atomic.Int64, cfg.Size), mono: mono.New(), stop: make(chan struct{})}
	for k := range t.senders {
		t.senders[k] = fmt.Sprintf("r%d", k)
		if len(cfg.Peers) > 0 {
			t.senders[k] = protocol.SubjectToken(cfg.Peers[k])
		}
	}
	t.pub = protocol.ShardSubjectPrefix + t.senders[cfg.Rank] + "." + cfg.Group + "."
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

func (c NATSConfig) check() error {
	if c.Size < 1 || c.Rank < 0 || c.Rank >= c.Size {
		return fmt.Errorf("shard: nats rank %d of %d in group %q", c.Rank, c.Size, c.Group)
	}
	if c.Group == "" || strings.ContainsAny(c.Group, ".*> \t\r\n") {
		return fmt.Errorf("shard: nats group %q: want one subject token (no '.', '*', '>' or spaces)", c.Group)
	}
	if len(c.Peers) > 0 && len(c.Peers) != c.Size {
		return fmt.Errorf("shard: nats group %q names %d peers for %d ranks", c.Group, len(c.Peers), c.Size)
	}
	if c.URL == "" && c.Options == nil {
		return fmt.Errorf("shard: nats group %q: no URL or connection options", c.Group)
	}
	return nil
}

// connect dials this rank's own connection: no reconnect (a rank that
// loses the server is lost to the group), no echo, and any asynchronous
// error (a slow consumer, a permissions violation) fails the group.
func (t *NATS) connect() error {
	opts := nats.GetDefaultOptions()
	if t.cfg.Options != nil {
		opts = *t.cfg.Options
	}
	if t.cfg.URL != "" {
		opts.Url, opts.Servers = t.cfg.URL, nil
	}
	lost := func(err error) {
		if err == nil {
			err = errors.New("connection closed")
		}
		t.box.fail(fmt.Errorf("shard: rank %d lost its nats connection: %w", t.rank, err))
	}
	opts.Name = fmt.Sprintf("sanafarm shard %s rank %d", t.cfg.Group, t.rank)
	opts.NoEcho, opts.AllowReconnect, opts.MaxReconnect = true, false, 0
	opts.DisconnectedErrCB = func(_ *nats.Conn, err error) { lost(err) }
	opts.AsyncErrorCB = func(_ *nats.Conn, _ *nats.Subscription, err error) { lost(err) }
	opts.DisconnectedCB, opts.ReconnectedCB, opts.ClosedCB, opts.ConnectedCB = nil, nil, nil, nil
	opts.DiscoveredServersCB, opts.LameDuckModeHandler = nil, nil
	nc, err := opts.Connect()
	if err != nil {
		return fmt.Errorf("shard: rank %d connecting to nats: %w", t.rank, redact.Error(err))
	}
	t.nc = nc
	if err := t.subscribe(); err != nil {
		nc.Close()
		return err
	}
	return nil
}

// subscribe listens on this rank's subjects from every sender, each with
// its own bounded queue (heartbeats are never stuck behind data).
func (t *NATS) subscribe() error {
	base := protocol.ShardSubjectPrefix + "*." + t.cfg.Group + "."
	tos := []string{fmt.Sprintf("r%d", t.rank), "all", "hb"}
	if t.cfg.Addressed {
		tos = []string{t.senders[t.rank] + ".d", t.senders[t.rank] + ".hb"}
	}
	for _, to := range tos {
		subj := base + to
		sub, err := t.nc.Subscribe(subj, t.onMsg)
		if err == nil {
			err = sub.SetPendingLimits(-1, int(t.cfg.MaxPending))
		}
		if err != nil {
			t.unsubscribe()
			return fmt.Errorf("shard: rank %d subscribing to %s: %w", t.rank, subj, err)
		}
		t.subs = append(t.subs, sub)
	}
	if err := t.nc.Flush(); err != nil {
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

// onMsg takes one message. Only a member can make a rank allocate or
// fail: a message that is not a shard header, names a sender outside the
// group or one other than the subject's node, or claims more than the
// group can send is dropped (and logged).
func (t *NATS) onMsg(m *nats.Msg) {
	h, err := parseHeader(m.Data)
	if err == nil {
		err = checkHeader(h, t.size)
	}
	if err == nil && t.senderOf(m.Subject) != t.senders[h.src] {
		err = fmt.Errorf("%w: rank %d's message on another node's subject", errBadMessage, h.src)
	}
	if err == nil && int(h.src) == t.rank {
		return // our own message, echoed (NoEcho is only a request)
	}
	if err == nil {
		t.seen[h.src].Store(t.mono.Now())
		if h.kind != kindBeat {
			err = t.deliver(h, m.Data[headerSize:])
		}
	}
	if errors.Is(err, errBadMessage) {
		t.drops.note(t.log, m.Subject, err)
	} else if err != nil {
		t.log.Warn("shard message fails the group", "subject", m.Subject, "err", err)
	}
}

// subjects are where a message of kind ("d" data, "hb" heartbeat) for
// rank to goes: every other rank when to < 0.
func (t *NATS) subjects(to int, kind string) []string {
	if !t.cfg.Addressed {
		switch {
		case kind == "hb":
			return []string{t.pub + "hb"}
		case to < 0:
			return []string{t.pub + "all"}
		}
		return []string{fmt.Sprintf("%sr%d", t.pub, to)}
	}
	if to >= 0 {
		return []string{t.pub + t.senders[to] + "." + kind}
	}
	out := make([]string, 0, t.size-1)
	for k := range t.size {
		if k != t.rank {
			out = append(out, t.pub+t.senders[k]+"."+kind)
		}
	}
	return out
}

// senderOf is the sender token of a gang subject.
func (t *NATS) senderOf(subject string) string {
	rest, _ := strings.CutPrefix(subject, protocol.ShardSubjectPrefix)
	tok, _, _ := strings.Cut(rest, ".")
	return tok
}

// dropLog logs dropped messages, at most one line a second (a flood of
// bad messages must not flood the log).
type dropLog struct {
	mu    sync.Mutex
	last  time.Time
	count int
}

func (d *dropLog) note(log *slog.Logger, subject string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.count++
	if now := time.Now(); now.Sub(d.last) >= time.Second {
		log.Warn("shard message dropped", "subject", subject, "reason", err, "dropped", d.count)
		d.last, d.count = now, 0
	}
}
