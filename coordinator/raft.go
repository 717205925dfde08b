package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/sanafarm/sanafarm/protocol"
)

// streamLayer is raft's TCP stream layer over a listener we bound
// ourselves (so ":0" works and tests know every address up front).
type streamLayer struct {
	net.Listener
	dial ContextDialer // nil: a net.Dialer
}

func (l *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return dialerOr(l.dial, timeout).DialContext(ctx, "tcp", string(addr))
}

// dialerOr is d, or a net.Dialer with timeout when d is nil.
func dialerOr(d ContextDialer, timeout time.Duration) ContextDialer {
	if d == nil {
		return &net.Dialer{Timeout: timeout}
	}
	return d
}

var _ raft.StreamLayer = (*streamLayer)(nil)

// raftStream is mutual TLS with Config.ClusterTLS, else plain TCP (with
// a warning unless bound to loopback: anyone who reaches the port can
// append entries).
func (s *Server) raftStream() raft.StreamLayer {
	if s.cfg.ClusterTLS == nil {
		level := slog.LevelWarn
		if a, ok := s.raftLn.Addr().(*net.TCPAddr); ok && a.IP.IsLoopback() {
			level = slog.LevelDebug // sanafarm dev, tests: only this host can dial it
		}
		s.log.Log(context.Background(), level, "raft transport is plaintext and unauthenticated; set --cluster-ca, --cluster-cert and --cluster-key outside development")
		return &streamLayer{Listener: s.raftLn, dial: s.cfg.RaftDialer}
	}
	return &tlsStreamLayer{Listener: s.raftLn, cfg: s.cfg.ClusterTLS, log: s.log, dial: s.cfg.RaftDialer}
}

// RaftTimeouts are the Raft timers (see hashicorp/raft's Config).
type RaftTimeouts struct {
	// Heartbeat: a follower without contact from the leader this long
	// starts an election. Election: a candidate without a result this
	// long starts another. LeaderLease: a leader without contact from a
	// quorum this long steps down (at most Heartbeat). Commit: the longest
	// an entry waits to be sent without a new one arriving.
	Heartbeat, Election, LeaderLease, Commit time.Duration
}

// DefaultRaftTimeouts are fast timers for a low-latency private network
// (a new leader within about a second of a crash).
var DefaultRaftTimeouts = RaftTimeouts{Heartbeat: 300 * time.Millisecond, Election: 300 * time.Millisecond,
	LeaderLease: 150 * time.Millisecond, Commit: 5 * time.Millisecond}

func (t RaftTimeouts) withDefaults() RaftTimeouts {
	d := DefaultRaftTimeouts
	for _, f := range []struct{ v, d *time.Duration }{{&t.Heartbeat, &d.Heartbeat}, {&t.Election, &d.Election},
		{&t.LeaderLease, &d.LeaderLease}, {&t.Commit, &d.Commit}} {
		if *f.v == 0 {
			*f.v = *f.d
		}
	}
	return t
}

// Validate checks the bounds raft enforces, with errors naming the
// timeout and its value.
func (t RaftTimeouts) Validate() error {
	for _, f := range []struct {
		name     string
		v, least time.Duration
	}{{"heartbeat", t.Heartbeat, 5 * time.Millisecond}, {"election", t.Election, 5 * time.Millisecond},
		{"leader lease", t.LeaderLease, 5 * time.Millisecond}, {"commit", t.Commit, time.Millisecond}} {
		if f.v < f.least {
			return fmt.Errorf("raft %s timeout %v: must be at least %v", f.name, f.v, f.least)
		}
	}
	if t.LeaderLease > t.Heartbeat {
		return fmt.Errorf("raft leader lease timeout %v: must not exceed the heartbeat timeout %v", t.LeaderLease, t.Heartbeat)
	}
	if t.Election < t.Heartbeat {
		return fmt.Errorf("raft election timeout %v: must be at least the heartbeat timeout %v", t.Election, t.Heartbeat)
	}
	return nil
}

// raftTransport is the Raft network transport over the cluster stream
// (mutual TLS when configured), without pipelined replication
// (MaxRPCsInFlight 1): raft's pipeline can deadlock once a follower
// answers an append with a failure (a newer term, a log it cannot store:
// a full disk) — the leader then never replicates to that follower again,
// nor shuts down (hashicorp/raft#612; seen here as a voter whose Shutdown
// hung in a leadership handover). HashiCorp's own measurements find the
// pipeline of little use with batched applies, which the FSM uses.
func (s *Server) raftTransport(hl hclog.Logger) *raft.NetworkTransport {
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: s.raftStream(), MaxPool: 3, Timeout: 10 * time.Second, Logger: hl, MaxRPCsInFlight: 1})
}

// raftConfig applies Config.Raft (fast timers by default).
func (s *Server) raftConfig(hl hclog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(s.cfg.ID)
	rc.HeartbeatTimeout = s.cfg.Raft.Heartbeat
	rc.ElectionTimeout = s.cfg.Raft.Election
	rc.LeaderLeaseTimeout = s.cfg.Raft.LeaderLease
	rc.CommitTimeout = s.cfg.Raft.Commit
	rc.BatchApplyCh = true
	rc.Logger = hl
	rc.NotifyCh = s.notifyCh
	if s.cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = s.cfg.SnapshotThreshold
	}
	if s.cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = s.cfg.SnapshotInterval
	}
	return rc
}

// apply commits one command and returns the FSM's response; an error
// response (*protocol.Error) is returned as the error. Raft's not-leader
// errors become ErrNotLeader.
func (s *Server) apply(ctx context.Context, t protocol.CommandType, payload any) (any, error) {
	r := s.getRaft()
	if r == nil {
		return nil, ErrNotLeader
	}
	b, err := protocol.EncodeCommand(t, payload)
	if err != nil {
		return nil, err
	}
	timeout := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), time.Millisecond)
	}
	start, logFailures := time.Now(), s.disk.logFailures.Load()
	f := r.Apply(b, timeout)
	if err := waitFuture(ctx, f); err != nil {
		if !errors.Is(err, ErrNotLeader) && s.disk.logFailures.Load() != logFailures {
			// raft answers a log it could not store with a plain error, and
			// steps down: the retry belongs with the next leader.
			err = fmt.Errorf("%w: the leader could not write its Raft log: %w", ErrNotLeader, err)
		}
		return nil, fmt.Errorf("applying %v: %w", t, err)
	}
	s.metrics.applied(t, time.Since(start))
	if err, ok := f.Response().(error); ok {
		return nil, err
	}
	return f.Response(), nil
}

// waitFuture waits for a raft future or ctx, mapping leadership errors.
func waitFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		// A leader shut down mid-commit is, to the caller, a lost leadership:
		// the entry may or may not commit, and the retry goes to the next
		// leader (writes are idempotent for that reason), not "internal".
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
			errors.Is(err, raft.ErrLeadershipTransferInProgress) || errors.Is(err, raft.ErrRaftShutdown) {
			return fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// barrier waits until every entry of previous terms is applied.
func (s *Server) barrier(ctx context.Context) error {
	r := s.getRaft()
	for {
		err := waitFuture(ctx, r.Barrier(time.Minute))
		if err == nil || errors.Is(err, ErrNotLeader) || ctx.Err() != nil {
			return err
		}
		s.log.Warn("raft barrier failed, retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// IsLeader reports whether this server is the Raft leader.
func (s *Server) IsLeader() bool {
	r := s.getRaft()
	return r != nil && r.State() == raft.Leader
}

// Leader returns the current leader's id and Raft address ("" if none).
func (s *Server) Leader() (id, addr string) {
	r := s.getRaft()
	if r == nil {
		return "", ""
	}
	a, i := r.LeaderWithID()
	return string(i), string(a)
}

// TransferLeadership hands this leader's leadership to voter id (before
// its host goes down for maintenance; tests put the leader where a fault
// will hit it).
func (s *Server) TransferLeadership(id string) error {
	r := s.getRaft()
	if r == nil || r.State() != raft.Leader {
		return errors.New("transferring the leadership: this server does not lead")
	}
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("transferring the leadership: %w", err)
	}
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == id && srv.Suffrage == raft.Voter {
			if err := r.LeadershipTransferToServer(srv.ID, srv.Address).Error(); err != nil {
				return fmt.Errorf("transferring the leadership to %s: %w", id, err)
			}
			return nil
		}
	}
	return fmt.Errorf("transferring the leadership: no voter %q", id)
}

// WaitForLeader polls until a leader is known or ctx ends.
func (s *Server) WaitForLeader(ctx context.Context) (string, error) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if id, _ := s.Leader(); id != "" {
			return id, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for a raft leader: %w", ctx.Err())
		case <-t.C:
		}
	}
}
