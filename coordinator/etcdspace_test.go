package coordinator

import (
	"context"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/coordinator/state"
	"github.com/sanafarm/sanafarm/internal/embedded/embedtest"
)

// TestEtcdSpace: an etcd whose database reaches its quota raises NOSPACE
// and refuses writes; the coordinator's probe says so (health, public
// health, metrics) with each member's size against its quota, and after
// the recovery docs/deploy.md §8 gives (delete, compact, defragment,
// disarm) it says ok again with the file shrunk.
func TestEtcdSpace(t *testing.T) {
	const quota = 4 << 20
	cli := embedtest.EtcdQuota(t, quota)
	now := time.Now()
	s := &Server{cfg: Config{Etcd: cli, Clock: func() time.Time { return now }, MinDataFree: -1}, log: testLogger(), store: state.New()}
	probe := func() etcdHealth {
		now = now.Add(etcdProbeEvery) // past the cache
		return s.probeEtcd()
	}
	eh := probe()
	if eh.result != "ok" || len(eh.members) != 1 || eh.members[0].QuotaBytes != quota || eh.members[0].DBBytes <= 0 || eh.alarms["NOSPACE"] != 0 {
		t.Fatalf("fresh etcd: %+v", eh)
	}
	ep := eh.members[0].Endpoint
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	embedtest.FillEtcd(t, ctx, cli)
	eh = probe()
	if want := "alarm NOSPACE on " + ep + ": etcd's database reached its quota"; !strings.HasPrefix(eh.result, want) || !strings.Contains(eh.result, "docs/deploy.md §8") {
		t.Errorf("full etcd: %q, want it to start %q and name the remedy", eh.result, want)
	}
	full1 := eh.members[0].DBBytes
	if full1 < quota*3/4 {
		t.Errorf("full etcd's database %d bytes of a %d quota", full1, quota)
	}
	if pub := publicHealth(api.Health{Etcd: eh.result, EtcdMembers: eh.members}); pub.Etcd != "alarm" || pub.EtcdMembers != nil {
		t.Errorf("public health: etcd %q members %+v, want alarm and none", pub.Etcd, pub.EtcdMembers)
	}
	checkEtcdMetrics(t, s, ep, 1, float64(quota))

	// The remedy: free the keys, compact the history, give the file back,
	// disarm.
	embedtest.FreeEtcd(t, ctx, cli)
	eh = probe()
	if eh.result != "ok" || eh.members[0].DBBytes >= full1 {
		t.Errorf("after the remedy: %q, database %d bytes (was %d)", eh.result, eh.members[0].DBBytes, full1)
	}
	checkEtcdMetrics(t, s, ep, 0, float64(quota))
	if _, err := cli.Put(ctx, "junk/again", "x"); err != nil {
		t.Errorf("a write after the remedy: %v", err)
	}
}

// checkEtcdMetrics gathers the collector's etcd metrics.
func checkEtcdMetrics(t *testing.T, s *Server, ep string, nospace, quota float64) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(s))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m.GetGauge().GetValue()
		}
	}
	for key, want := range map[string]float64{"sanafarm_etcd_alarms,alarm=NOSPACE": nospace, "sanafarm_etcd_alarms,alarm=CORRUPT": 0,
		"sanafarm_etcd_db_quota_bytes,endpoint=" + ep: quota} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (exported %v), want %v", key, v, ok, want)
		}
	}
	if got["sanafarm_etcd_db_bytes,endpoint="+ep] <= 0 || got["sanafarm_etcd_db_in_use_bytes,endpoint="+ep] <= 0 {
		t.Errorf("database size not exported: %v", got)
	}
}

// TestEtcdSpaceHungMember: members that accept connections but never
// answer are listed with their errors, and the others' sizes and the
// alarms are still read: the members are asked at once, each for a
// second, so two hung ones (asked in turn: 2 s, the whole probe's time)
// do not cost the alarms.
func TestEtcdSpaceHungMember(t *testing.T) {
	good := embedtest.Etcd(t)
	hung := map[string]bool{}
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		hung[ln.Addr().String()] = true
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() }) // held open, never answered
			}
		}()
	}
	eps := append(good.Endpoints(), slices.Collect(maps.Keys(hung))...)
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	s := &Server{cfg: Config{Etcd: cli, Clock: time.Now}, log: testLogger(), store: state.New()}
	eh := s.probeEtcd()
	if len(eh.members) != 3 {
		t.Fatalf("members %+v, want every endpoint", eh.members)
	}
	for _, m := range eh.members {
		switch {
		case hung[m.Endpoint]:
			if m.Error == "" {
				t.Errorf("hung member: %+v, want its error", m)
			}
		default:
			if m.Error != "" || m.DBBytes <= 0 || m.QuotaBytes <= 0 {
				t.Errorf("answering member: %+v", m)
			}
		}
	}
	if eh.result != "ok" || eh.alarms == nil {
		t.Errorf("result %q, alarms %v: want ok and the alarms read", eh.result, eh.alarms)
	}
}
