package coordinator

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sanafarm/sanafarm/protocol"
)

// collector exports the replicated state as Prometheus metrics at scrape
// time. Counters come from the FSM (Stats), so they agree on every voter
// and survive leader changes; rate(sanafarm_leases_total[1m]) is leases/s.
type collector struct {
	s                                              *Server
	jobs, tasks, queue, leader, drained            *prometheus.Desc
	leases, completions, retries, failures, images *prometheus.Desc
	noFault, nodeFault, specBytes, specLimit       *prometheus.Desc
	dataFree, dataMin                              *prometheus.Desc
	etcdDB, etcdInUse, etcdQuota, etcdAlarms       *prometheus.Desc
}

var _ prometheus.Collector = (*collector)(nil)

func newCollector(s *Server) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("sanafarm_"+name, help, labels, nil)
	}
	return &collector{s: s,
		jobs:        d("jobs", "Jobs by state.", "state"),
		tasks:       d("tasks", "Shard tasks by state.", "state"),
		queue:       d("queue_depth", "Queued tasks of active jobs."),
		leader:      d("raft_leader", "1 if this coordinator is the Raft leader."),
		drained:     d("nodes_drained", "Nodes drained or disabled, by who drained them (operator, or auto: the leader's auto-drain).", "by"),
		leases:      d("leases_total", "Task leases granted."),
		completions: d("completions_total", "Shards completed."),
		retries:     d("task_retries_total", "Attempts requeued after a failure, lease expiry or node loss."),
		failures:    d("task_failures_total", "Attempts that ended without a result."),
		noFault:     d("task_failures_not_counted_total", "Attempts that ended through no fault of their shard (a hand-back, a disable, a lost lease reply, the node's own fault), not counted toward max attempts."),
		nodeFault:   d("task_failures_node_fault_total", "Attempts that failed through their node's own fault as it reported it (a full disk, a model over its --max-model-bytes, a location outside its allow-lists): the node is struck, the shard's attempt not counted."),
		images:      d("images_done_total", "Images of completed shards."),
		specBytes:   d("job_spec_bytes", "Bytes of job specs the replicated state holds, finished jobs included, as --max-job-bytes counts them."),
		specLimit:   d("job_spec_bytes_limit", "The --max-job-bytes bound (absent when there is none): a submit that would take job_spec_bytes past it is refused."),
		dataFree:    d("coordinator_data_free_bytes", "Free bytes on the disk of this coordinator's --data dir (its Raft log and snapshots)."),
		dataMin:     d("coordinator_data_free_bytes_min", "The --min-data-free bound (absent when there is none): while the leader's data disk would keep less, submits are refused."),
		etcdDB:      d("etcd_db_bytes", "Size of an etcd member's database file: at its quota etcd raises NOSPACE and refuses every write.", "endpoint"),
		etcdInUse:   d("etcd_db_in_use_bytes", "The part of an etcd member's database file in use; the rest comes back only by defragmenting the member.", "endpoint"),
		etcdQuota:   d("etcd_db_quota_bytes", "An etcd member's database quota (quota-backend-bytes).", "endpoint"),
		etcdAlarms:  d("etcd_alarms", "Active etcd alarms by type (NOSPACE: writes refused; CORRUPT: a member's data differs).", "alarm"),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.jobs, c.tasks, c.queue, c.leader, c.drained, c.leases, c.completions, c.retries, c.failures, c.noFault, c.images,
		c.nodeFault, c.specBytes, c.specLimit, c.dataFree, c.dataMin, c.etcdDB, c.etcdInUse, c.etcdQuota, c.etcdAlarms} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	sum := c.s.store.Summary()
	for _, st := range []protocol.JobState{protocol.JobQueued, protocol.JobRunning, protocol.JobDone, protocol.JobFailed, protocol.JobCancelled} {
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(sum.Jobs[st]), string(st))
	}
	for st, n := range map[protocol.TaskState]int{protocol.TaskQueued: sum.Tasks.Queued, protocol.TaskLeased: sum.Tasks.Leased,
		protocol.TaskDone: sum.Tasks.Done, protocol.TaskFailed: sum.Tasks.Failed} {
		ch <- prometheus.MustNewConstMetric(c.tasks, prometheus.GaugeValue, float64(n), string(st))
	}
	ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, float64(sum.QueueDepth))
	ch <- prometheus.MustNewConstMetric(c.specBytes, prometheus.GaugeValue, float64(c.s.store.SpecBytes()))
	if c.s.cfg.MaxJobBytes > 0 {
		ch <- prometheus.MustNewConstMetric(c.specLimit, prometheus.GaugeValue, float64(c.s.cfg.MaxJobBytes))
	}
	if free, err := c.s.dataFree(); err == nil {
		ch <- prometheus.MustNewConstMetric(c.dataFree, prometheus.GaugeValue, float64(free))
	}
	if c.s.cfg.MinDataFree > 0 {
		ch <- prometheus.MustNewConstMetric(c.dataMin, prometheus.GaugeValue, float64(c.s.cfg.MinDataFree))
	}
	c.collectEtcd(ch)
	leader := 0.0
	if c.s.IsLeader() {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(c.leader, prometheus.GaugeValue, leader)
	by := map[string]int{"operator": 0, "auto": 0}
	for _, nc := range c.s.store.NodeControls() {
		if nc.Auto {
			by["auto"]++
		} else {
			by["operator"]++
		}
	}
	for k, n := range by {
		ch <- prometheus.MustNewConstMetric(c.drained, prometheus.GaugeValue, float64(n), k)
	}
	for d, v := range map[*prometheus.Desc]int64{c.leases: sum.Stats.Leases, c.completions: sum.Stats.Completions,
		c.retries: sum.Stats.Retries, c.failures: sum.Stats.Failures, c.noFault: sum.Stats.NoFault, c.images: sum.Stats.ImagesDone,
		c.nodeFault: sum.Stats.NodeFault} {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
}

// collectEtcd exports the last etcd probe's space and alarms (health.go;
// at most one probe per etcdProbeEvery however often it is scraped).
func (c *collector) collectEtcd(ch chan<- prometheus.Metric) {
	eh := c.s.probeEtcd()
	for _, m := range eh.members {
		if m.Error != "" {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.etcdDB, prometheus.GaugeValue, float64(m.DBBytes), m.Endpoint)
		ch <- prometheus.MustNewConstMetric(c.etcdInUse, prometheus.GaugeValue, float64(m.DBInUseBytes), m.Endpoint)
		if m.QuotaBytes > 0 {
			ch <- prometheus.MustNewConstMetric(c.etcdQuota, prometheus.GaugeValue, float64(m.QuotaBytes), m.Endpoint)
		}
	}
	if eh.alarms == nil {
		return
	}
	for kind, n := range eh.alarms {
		if !slices.Contains(etcdAlarmKinds, kind) {
			ch <- prometheus.MustNewConstMetric(c.etcdAlarms, prometheus.GaugeValue, float64(n), kind)
		}
	}
	for _, kind := range etcdAlarmKinds {
		ch <- prometheus.MustNewConstMetric(c.etcdAlarms, prometheus.GaugeValue, float64(eh.alarms[kind]), kind)
	}
}
