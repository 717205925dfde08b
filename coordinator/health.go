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
	mu  sync.Mutex
	at  time.Time
	got etcdHealth
}

// etcdHealth is what an etcd probe found: "ok", an alarm or the error
// (result), and each endpoint's database space (etcdspace.go).
type etcdHealth struct {
	result  string
	members []api.EtcdMember
	alarms  map[string]int // active alarms by type (NOSPACE, CORRUPT); nil: not known
}

// clusterHealth fills the voters, NATS and etcd parts of h (the
// dashboard's cluster page, docs/dashboard.md).
func (s *Server) clusterHealth(h *api.Health, r *raft.Raft) {
	if f := r.GetConfiguration(); f.Error() == nil {
		free := s.readVoterDisks(context.Background()) // datadisk_voters.go
		for _, v := range f.Configuration().Servers {
			h.Voters = append(h.Voters, api.Voter{ID: string(v.ID), Address: string(v.Address),
				Suffrage: v.Suffrage.String(), Leader: string(v.ID) == h.Leader, DataFreeBytes: free[string(v.ID)]})
		}
	}
	h.NATS = "none"
	if s.cfg.NATS != nil {
		h.NATS = s.cfg.NATS.Status().String()
	}
	eh := s.probeEtcd()
	h.Etcd, h.EtcdMembers = eh.result, eh.members
	h.JobSpecBytes, h.MaxJobBytes = s.store.SpecBytes(), max(s.cfg.MaxJobBytes, 0)
	h.FeaturesInUse = s.store.FeaturesInUse()
	h.DataFreeBytes, _ = s.dataFree()
	h.MinDataFree = max(s.cfg.MinDataFree, 0)
}

// probeEtcd returns the last probe, asking etcd again when it is older
// than etcdProbeEvery.
func (s *Server) probeEtcd() etcdHealth {
	if s.cfg.Etcd == nil {
		return etcdHealth{result: "none"}
	}
	p := &s.etcdHealth
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := s.cfg.Clock(); now.Sub(p.at) >= etcdProbeEvery || p.got.result == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		p.at, p.got = now, etcdHealth{result: "ok"}
		if _, err := s.cfg.Etcd.Get(ctx, protocol.NodePrefix, clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil {
			p.got.result = "unreachable: " + err.Error()
			return p.got
		}
		p.got = s.etcdSpace(ctx)
	}
	return p.got
}
