package coordinator

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/protocol"
)

// Feature gates (docs/architecture.md, "Feature gates"). A Raft command
// that an older server does not know is skipped there, and that server's
// state would then differ from the others'. So each coordinator announces
// the commands it knows in etcd (protocol.FeatureKey, bound to its
// registration lease), and the leader sends such a command only while
// every server of the Raft configuration — voters and non-voters, all
// apply the log — announces it. Until then it sends the older command
// (for CmdTaskRequeue: a TaskFail that counts).

// featureRecheck is how long the leader trusts its last reading: a voter
// added or restarted on an older release is noticed within it. A rolling
// upgrade replaces servers one at a time, minutes apart.
const featureRecheck = 10 * time.Second

// maxFeatureServers bounds the keys read (a Raft configuration is a few
// servers; the bound keeps a flood of forged keys from costing much).
const maxFeatureServers = 256

// featureGate caches whether the cluster supports a feature.
type featureGate struct {
	mu      sync.Mutex
	checked map[string]time.Time
	ok      map[string]bool
}

func newFeatureGate() *featureGate {
	return &featureGate{checked: map[string]time.Time{}, ok: map[string]bool{}}
}

// clusterKnows reports whether every server of the Raft configuration
// can apply typ: it announces the feature typ needs (the mapping the FSM
// records features in use by, protocol.CommandType.Feature). Any doubt —
// no etcd, no configuration, a read error — answers false: the older
// command is always safe.
func (s *Server) clusterKnows(ctx context.Context, typ protocol.CommandType) bool {
	feature := typ.Feature()
	if feature == "" {
		return true // every release knows it
	}
	g, now := s.features, s.cfg.Clock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if at, ok := g.checked[feature]; ok && now.Sub(at) < featureRecheck && !now.Before(at) {
		return g.ok[feature]
	}
	ok := s.readFeature(ctx, feature)
	if ok != g.ok[feature] || g.checked[feature].IsZero() {
		s.log.Info("cluster feature", "feature", feature, "enabled", ok)
	}
	g.checked[feature], g.ok[feature] = now, ok
	return ok
}

// readFeature reads the configuration and the announcements.
func (s *Server) readFeature(ctx context.Context, feature string) bool {
	r := s.getRaft()
	if r == nil {
		return false
	}
	f := r.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	servers := f.Configuration().Servers
	if len(servers) == 1 && string(servers[0].ID) == s.cfg.ID {
		return true // this server alone applies the log
	}
	if s.cfg.Etcd == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := s.cfg.Etcd.Get(ctx, protocol.FeaturePrefix, clientv3.WithPrefix(), clientv3.WithLimit(maxFeatureServers))
	if err != nil {
		s.log.Debug("reading coordinator features", "err", err)
		return false
	}
	announced := make(map[string][]byte, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if id, ok := strings.CutPrefix(string(kv.Key), protocol.FeaturePrefix); ok {
			announced[id] = kv.Value
		}
	}
	return allAnnounce(servers, s.cfg.ID, announced, feature)
}

// allAnnounce reports whether every server but self (which knows its own
// release) lists feature in announced (server id → FeatureKey value).
func allAnnounce(servers []raft.Server, self string, announced map[string][]byte, feature string) bool {
	if len(servers) == 0 {
		return false
	}
	for _, srv := range servers {
		if string(srv.ID) != self && !protocol.HasFeature(announced[string(srv.ID)], feature) {
			return false
		}
	}
	return true
}
