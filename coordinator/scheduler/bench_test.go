package scheduler

import (
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// BenchmarkPick: 1,000 active jobs of 10,000 queued tasks each (three
// priority levels, four models), 500 GPU nodes of 4 slots asking in turn.
// Every lease is committed and completed 2,000 leases later, so leased
// counts move as on a busy farm. picks/s and ns/call time Pick alone (the
// harness's commits excluded); ns/op includes them. "copied" rebuilds the
// ActiveJobs slice on every call (1,000 Job copies), "shared" returns a
// cached one, as a state store can between job changes.
func BenchmarkPick(b *testing.B) {
	for _, bc := range []struct {
		name   string
		free   int
		shared bool
	}{{"free=1/shared", 1, true}, {"free=4/shared", 4, true}, {"free=4/copied", 4, false}} {
		b.Run(bc.name, func(b *testing.B) { benchPick(b, bc.free, bc.shared) })
	}
}

func benchPick(b *testing.B, free int, shared bool) {
	st := newMemState()
	models := []string{tiny, m600, m1k6, m4k8}
	for i := range 1000 {
		st.add(jobName(i), i%3, models[i%4], 10000, i)
	}
	nodes := make([]protocol.NodeInfo, 500)
	for i := range nodes {
		nodes[i] = gpuNode(jobName(i), 20, 20, 20, 20)
		nodes[i].Models = []string{models[i%4]}
	}
	s := New(Config{})
	var inflight []protocol.TaskKey
	picked, now := 0, t0
	var spent time.Duration
	b.ResetTimer()
	for i := range b.N {
		n := nodes[i%len(nodes)]
		if !shared {
			st.active = nil
		}
		start := time.Now()
		leases := s.Pick(st, protocol.LeaseRequest{Node: n, Free: free}, now)
		spent += time.Since(start)
		st.commit(b, n.ID, leases)
		for _, l := range leases {
			inflight = append(inflight, l.TaskKey)
		}
		for len(inflight) > 2000 {
			st.complete(b, inflight[0])
			inflight = inflight[1:]
		}
		picked += len(leases)
		now = now.Add(time.Millisecond)
	}
	b.ReportMetric(float64(picked)/spent.Seconds(), "picks/s")
	b.ReportMetric(float64(spent.Nanoseconds())/float64(b.N), "ns/call")
}
