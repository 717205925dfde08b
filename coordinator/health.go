package coordinator

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// etcdProbeEvery bounds how often Health asks etcd: GET /v1/health needs
// no token, so a caller hammering it must not turn into etcd load.
const etcdProbeEvery = 5 * time.Second

// etcdProbe caches the last etcd probe.
type etcdProbe struct {
	mu     sync.Mutex
	at     time.Time
	result string
}

// clusterHealth fills the voters, NATS and etcd parts of h (the
// dashboard's cluster page, docs/dashboard.md).
func (s *Server) clusterHealth(h *api.Health, r *raft.Raft) {
	if f := r.GetConfiguration(); f.Error() == nil {
		for _, v := range f.Configuration().Servers {
			h.Voters = append(h.Voters, api.Voter{ID: string(v.ID), Address: string(v.Address),
				Suffrage: v.Suffrage.String(), Leader: string(v.ID) == h.Leader})
		}
	}
	h.NATS = "none"
	if s.cfg.NATS != nil {
		h.NATS = s.cfg.NATS.Status().String()
	}
	h.Etcd = s.probeEtcd()
	h.JobSpecBytes, h.MaxJobBytes = s.store.SpecBytes(), max(s.cfg.MaxJobBytes, 0)
	h.FeaturesInUse = s.store.FeaturesInUse()
	h.DataFreeBytes, _ = s.dataFree()
	h.MinDataFree = max(s.cfg.MinDataFree, 0)
}

func (s *Server) probeEtcd() string {
	if s.cfg.Etcd == nil {
		return "none"
	}
	p := &s.etcdHealth
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := s.cfg.Clock(); now.Sub(p.at) >= etcdProbeEvery || p.result == "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := s.cfg.Etcd.Get(ctx, protocol.NodePrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		p.at, p.result = now, "ok"
		if err != nil {
			p.result = "unreachable: " + err.Error()
		}
	}
	return p.result
}
