package coordinator

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sanafarm/sanafarm/internal/metrics"
	"github.com/sanafarm/sanafarm/protocol"
)

// coordMetrics are this voter's own observations (not replicated state,
// which collector exports): Raft leadership, commit latency and lease
// latency (docs/deploy.md, Metrics).
type coordMetrics struct {
	leaderChanges *prometheus.CounterVec
	apply         *prometheus.HistogramVec
	lease         *prometheus.HistogramVec
}

// Lease results, the "result" label of sanafarm_lease_duration_seconds.
const (
	leaseGranted = "granted"
	leaseEmpty   = "empty"
	leasePending = "pending"
	leaseError   = "error"
)

func newCoordMetrics() *coordMetrics {
	// Commits take a fsync and a round trip to a quorum: sub-millisecond
	// on one host, tens of milliseconds across zones.
	buckets := prometheus.ExponentialBuckets(0.0001, 2.5, 14)
	return &coordMetrics{
		leaderChanges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sanafarm_raft_leader_changes_total",
			Help: "Times this coordinator became (to=leader) or stopped being (to=follower) the Raft leader."}, []string{"to"}),
		apply: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sanafarm_raft_apply_duration_seconds",
			Help: "Time from proposing a command to its commit and application on this leader.", Buckets: buckets},
			[]string{"command"}),
		lease: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sanafarm_lease_duration_seconds",
			Help:    "Time from a node's lease request to the leader's answer, by result (granted, empty, pending, error).",
			Buckets: buckets}, []string{"result"}),
	}
}

func (m *coordMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.leaderChanges, m.apply, m.lease}
}

// newRegistry is a coordinator's registry: the Go and process
// collectors, sanafarm_build_info, the replicated state and m.
func newRegistry(s *Server, m *coordMetrics) *prometheus.Registry {
	reg := metrics.NewRegistry()
	reg.MustRegister(newCollector(s))
	reg.MustRegister(m.collectors()...)
	return reg
}

func (m *coordMetrics) leadership(leader bool) {
	to := "follower"
	if leader {
		to = "leader"
	}
	m.leaderChanges.WithLabelValues(to).Inc()
}

func (m *coordMetrics) applied(t protocol.CommandType, d time.Duration) {
	m.apply.WithLabelValues(t.String()).Observe(d.Seconds())
}

func (m *coordMetrics) leased(rep protocol.LeaseReply, d time.Duration) {
	result := leaseGranted
	switch {
	case rep.Error != nil:
		result = leaseError
	case rep.Pending:
		result = leasePending
	case len(rep.Assignments) == 0:
		result = leaseEmpty
	}
	m.lease.WithLabelValues(result).Observe(d.Seconds())
}

// MetricFamilies names every sanafarm_ family a coordinator exports
// (the Grafana dashboard's test checks its queries against them).
func MetricFamilies() []string {
	cs := append([]prometheus.Collector{newCollector(nil)}, newCoordMetrics().collectors()...)
	return append(metrics.FamilyNames(cs...), metrics.BaseFamilies()...)
}
