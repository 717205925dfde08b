package coordinator

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/protocol"
)

// A leader cut off from NATS (a partition between it and the NATS
// servers, a firewall rule on its host) keeps its Raft quorum, so no
// election happens — but node traffic reaches only the leader, so no
// shard is leased, reported or completed: the farm would stand still
// until the link healed. So every coordinator announces in etcd while its
// NATS link works (protocol.NATSLinkKey, under a short lease it revokes as
// soon as the link fails: probeNATS, which also catches a link that
// black-holes packets while its connection looks fine), and a leader whose
// link stays down for Config.NATSHandoverAfter hands the leadership to a voter that
// announces one. In an outage or a hang of NATS itself nobody announces,
// and the leader stays (nodelink.go holds the leases meanwhile).

// natsLinkTTL is the lease of a NATSLinkKey (seconds): a coordinator that
// dies or freezes with its key announced stops counting within it.
const natsLinkTTL = 5

// natsLinkPoll is how often a coordinator looks at its NATS connection.
const natsLinkPoll = 500 * time.Millisecond

// maxLinkKeys bounds the keys read (a Raft configuration is a few voters).
const maxLinkKeys = 256

// handoverConfirm is how long a voter must go on announcing its link,
// while this leader is still disconnected, before the leadership goes to
// it: when NATS comes back after an outage, the voters reconnect within a
// second or two of each other, and the leader must not hand over merely
// because another voter was quicker.
const handoverConfirm = 3 * time.Second

// handover is the leader loop's view of its NATS link.
type handover struct {
	downSince time.Time // when the link was first seen down (zero: up)
	checked   time.Time // the last read of the announcements
	candidate string    // the voter seen announcing its link …
	candSince time.Time // … since then, while this leader was down
	warned    bool      // "staying leader" said for this outage
}

// maybeHandOver (leader tick) hands the leadership to a voter connected to
// NATS once this leader's own link has been down for NATSHandoverAfter; it
// reports whether it did (the tick's other leader work is then moot).
func (s *Server) maybeHandOver(ctx context.Context, h *handover) bool {
	now := s.cfg.Clock()
	if s.cfg.NATS == nil || s.cfg.Etcd == nil || s.cfg.NATSHandoverAfter < 0 || s.natsUp.Load() {
		h.downSince = time.Time{}
		return false
	}
	if h.downSince.IsZero() {
		*h = handover{downSince: now}
	}
	r := s.getRaft()
	if r == nil || now.Sub(h.downSince) < s.cfg.NATSHandoverAfter || now.Sub(h.checked) < time.Second {
		return false
	}
	h.checked = now
	id, addr, ok := s.linkedVoter(ctx, r)
	if !ok && !h.warned {
		h.warned = true
		s.log.Warn("leader cut off from NATS, and no other voter announces a NATS connection: staying leader",
			"down_for", now.Sub(h.downSince).Round(time.Second))
	}
	if id != h.candidate {
		h.candidate, h.candSince = id, now
		return false
	}
	if !ok || now.Sub(h.candSince) < handoverConfirm {
		return false
	}
	h.candidate = "" // once per confirmation: a failed transfer is tried again after another one
	s.log.Warn("leader cut off from NATS: handing the leadership to a voter that reaches it", "to", id,
		"down_for", now.Sub(h.downSince).Round(time.Second))
	return s.transferTo(r, id, addr)
}

// transferTo hands the leadership to voter id at addr, and reports
// whether it went.
func (s *Server) transferTo(r *raft.Raft, id, addr string) bool {
	if err := r.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(addr)).Error(); err != nil {
		s.log.Warn("leadership handover", "to", id, "err", err)
		return false
	}
	return true
}

// linkedVoter returns a voter other than this server whose NATS link is
// announced in etcd (the next by id after this one: pickLinked).
func (s *Server) linkedVoter(ctx context.Context, r *raft.Raft) (id, addr string, ok bool) {
	f := r.GetConfiguration()
	if f.Error() != nil || s.cfg.Etcd == nil {
		return "", "", false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := s.cfg.Etcd.Get(ctx, protocol.NATSLinkPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithLimit(maxLinkKeys))
	if err != nil {
		s.log.Debug("reading coordinators' NATS links", "err", err)
		return "", "", false
	}
	linked := map[string]bool{}
	for _, kv := range resp.Kvs {
		if k, ok := strings.CutPrefix(string(kv.Key), protocol.NATSLinkPrefix); ok {
			linked[k] = true
		}
	}
	srv, ok := pickLinked(f.Configuration().Servers, s.cfg.ID, linked)
	return string(srv.ID), string(srv.Address), ok
}

// pickLinked is the next voter by id after self, around, that linked
// names: keys of other servers, of non-voters and of this one count for
// nothing (anyone who may write the farm's etcd prefix may write them).
// Going around, rather than always to the first, makes leaders that hand
// over in turn (unheard.go) try every voter, not two of them back and
// forth.
func pickLinked(servers []raft.Server, self string, linked map[string]bool) (raft.Server, bool) {
	servers = slices.Clone(servers)
	slices.SortFunc(servers, func(a, b raft.Server) int { return strings.Compare(string(a.ID), string(b.ID)) })
	after, _ := slices.BinarySearchFunc(servers, self, func(s raft.Server, id string) int { return strings.Compare(string(s.ID), id) })
	for i := range servers {
		srv := servers[(after+i)%len(servers)]
		if srv.Suffrage == raft.Voter && string(srv.ID) != self && linked[string(srv.ID)] {
			return srv, true
		}
	}
	return raft.Server{}, false
}

// announceNATSLink keeps this coordinator's NATSLinkKey present while its
// NATS connection is up, and revokes it within natsLinkPoll of a drop.
func (s *Server) announceNATSLink(ctx context.Context) {
	var cur *linkLease
	defer func() { cur.revoke() }()
	t := time.NewTicker(natsLinkPoll)
	defer t.Stop()
	for {
		up := s.probeNATS()
		s.natsUp.Store(up)
		switch {
		case up && (cur == nil || cur.lost()):
			cur.revoke()
			cur = s.putNATSLink(ctx)
		case !up && cur != nil:
			cur.revoke()
			cur = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// natsProbe bounds the round trip probeNATS waits for.
const natsProbe = time.Second

// probeNATS reports whether this coordinator's NATS link works: connected,
// and a PING answered within natsProbe. The status alone misses a link
// that black-holes packets: the client notices only when its pings time
// out, minutes later. In a hang of the NATS server itself every
// coordinator's probe fails, and nobody announces.
func (s *Server) probeNATS() bool {
	nc := s.cfg.NATS
	return nc.Status() == nats.CONNECTED && nc.FlushTimeout(natsProbe) == nil
}

// linkLease is the etcd lease a NATSLinkKey is bound to, kept alive.
type linkLease struct {
	etcd   *clientv3.Client
	id     clientv3.LeaseID
	cancel context.CancelFunc // stops the keep-alive
	done   chan struct{}      // closed when the keep-alive ends (lease lost)
}

// putNATSLink announces the link under a new lease; nil if etcd refused
// (the next poll tries again).
func (s *Server) putNATSLink(ctx context.Context) *linkLease {
	etcd := s.cfg.Etcd
	octx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	g, err := etcd.Grant(octx, natsLinkTTL)
	if err != nil {
		s.log.Debug("announcing the NATS link", "err", err)
		return nil
	}
	kctx, kcancel := context.WithCancel(ctx)
	l := &linkLease{etcd: etcd, id: g.ID, cancel: kcancel, done: make(chan struct{})}
	if _, err := etcd.Put(octx, protocol.NATSLinkKey(s.cfg.ID), "", clientv3.WithLease(g.ID)); err != nil {
		s.log.Debug("announcing the NATS link", "err", err)
		l.revoke()
		return nil
	}
	ka, err := etcd.KeepAlive(kctx, g.ID)
	if err != nil {
		l.revoke()
		return nil
	}
	go func() {
		for range ka { // drained until the lease is lost or revoked
		}
		close(l.done)
	}()
	return l
}

// lost reports whether the lease's keep-alive ended.
func (l *linkLease) lost() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// revoke withdraws the announcement (nil: nothing announced).
func (l *linkLease) revoke() {
	if l == nil {
		return
	}
	l.cancel()
	rctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = l.etcd.Revoke(rctx, l.id)
}
