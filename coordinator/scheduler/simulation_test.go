package scheduler

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// simNode is a simulated node: its slots and the leases it runs.
type simNode struct {
	info    protocol.NodeInfo
	running []protocol.TaskKey
}

// sim drives several nodes against one memState: each step a node finishes
// (or fails) some of its tasks, then asks for as many as it has free slots.
type sim struct {
	t     *testing.T
	rng   *rand.Rand
	st    *memState
	s     *Scheduler
	nodes []*simNode
	now   time.Time
	// failRate is the chance that a finished task failed instead.
	failRate float64
}

func newSim(t *testing.T, seed uint64, cfg Config, slots ...int) *sim {
	sm := &sim{t: t, rng: rand.New(rand.NewPCG(seed, 7)), st: newMemState(), s: New(cfg), now: t0}
	for i, n := range slots {
		info := cpuNode(jobName(i))
		info.Slots = n
		sm.nodes = append(sm.nodes, &simNode{info: info})
	}
	return sm
}

// step runs one node: finish each running task with probability 1/2, then
// fill the free slots. It returns the leases picked.
func (sm *sim) step(n *simNode) []protocol.TaskNext {
	kept := n.running[:0]
	for _, k := range n.running {
		switch r := sm.rng.Float64(); {
		case sm.st.byID[k.Job].job.State.Terminal():
			delete(sm.st.byID[k.Job].leased, k.Shard) // job failed: coordinator drops it
		case r < sm.failRate:
			sm.st.fail(sm.t, k)
		case r < 0.5:
			sm.st.complete(sm.t, k)
		default:
			kept = append(kept, k)
		}
	}
	n.running = kept
	sm.now = sm.now.Add(time.Second)
	leases := sm.s.Pick(sm.st, protocol.LeaseRequest{Node: n.info, Free: n.info.Slots - len(n.running)}, sm.now)
	sm.st.commit(sm.t, n.info.ID, leases)
	for _, l := range leases {
		if want := sm.now.Add(sm.s.Config().LeaseTTL); !l.Deadline.Equal(want) {
			sm.t.Fatalf("lease %v deadline %v, want %v", l.TaskKey, l.Deadline, want)
		}
		n.running = append(n.running, l.TaskKey)
	}
	return leases
}

func (sm *sim) active() bool {
	return slices.ContainsFunc(sm.st.jobs, func(j *memJob) bool { return !j.job.State.Terminal() })
}

// checkExactlyOnce: every task of a finished job was done exactly once, and
// was leased exactly once per attempt (commit rejects repeats and gaps).
func (sm *sim) checkExactlyOnce() {
	for _, j := range sm.st.jobs {
		attempts := 0
		for sh := range j.total {
			attempts += j.attempt[sh]
		}
		if attempts != j.leases {
			sm.t.Errorf("job %s: %d leases for %d attempts", j.job.ID, j.leases, attempts)
		}
		if j.job.State == protocol.JobDone && len(j.done) != j.total {
			sm.t.Errorf("job %s done with %d of %d shards", j.job.ID, len(j.done), j.total)
		}
	}
}

// TestPickSimulationFair: nodes of different sizes drain five equal jobs
// of different lengths. After every node's step, the jobs that still have
// queued tasks are within one leased task of each other.
func TestPickSimulationFair(t *testing.T) {
	for seed := range uint64(8) {
		sm := newSim(t, seed, Config{}, 1, 2, 3, 4)
		for i, n := range []int{40, 60, 25, 80, 50} {
			sm.st.add(jobName(i), 0, tiny, n, i)
		}
		sm.run(seed, func(*simNode, []protocol.TaskNext) { sm.checkFair() })
	}
}

// TestPickSimulationPriority: an urgent job arriving mid-run takes every
// free slot until its queue is empty, and all jobs still finish.
func TestPickSimulationPriority(t *testing.T) {
	for seed := range uint64(8) {
		sm := newSim(t, seed, Config{}, 1, 2, 3, 4)
		for i, n := range []int{40, 60, 25} {
			sm.st.add(jobName(i), 0, tiny, n, i)
		}
		steps := 0
		sm.run(seed, func(_ *simNode, leases []protocol.TaskNext) {
			sm.checkPriority(leases)
			if steps++; steps == 20 {
				sm.st.add("urgent", 1, tiny, 30, 100)
			}
		})
	}
}

// run steps every node in turn until all jobs are done, calling after once
// per step, then checks that every job is done exactly once.
func (sm *sim) run(seed uint64, after func(*simNode, []protocol.TaskNext)) {
	for round := 0; sm.active(); round++ {
		for _, n := range sm.nodes {
			after(n, sm.step(n))
		}
		if round > 10000 {
			sm.t.Fatalf("seed %d: not finished after %d rounds", seed, round)
		}
	}
	for _, j := range sm.st.jobs {
		if j.job.State != protocol.JobDone {
			sm.t.Errorf("seed %d: job %s ended %s", seed, j.job.ID, j.job.State)
		}
	}
	sm.checkExactlyOnce()
}

func (sm *sim) checkFair() {
	lo, hi := -1, -1
	for _, j := range sm.st.jobs {
		if j.job.Spec.Priority != 0 || j.queued() == 0 {
			continue
		}
		n := len(j.leased)
		if lo < 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
	}
	if hi-lo > 1 {
		sm.t.Fatalf("unfair: leased counts of jobs with queued tasks range %d..%d", lo, hi)
	}
}

func (sm *sim) checkPriority(leases []protocol.TaskNext) {
	u := sm.st.byID["urgent"]
	if u == nil || u.queued() == 0 {
		return
	}
	for _, l := range leases {
		if l.Job != "urgent" {
			sm.t.Fatalf("leased %v while urgent has %d queued tasks", l.TaskKey, u.queued())
		}
	}
}

// TestPickSimulationFailures: with random task failures and the blocklist
// on, no node gets a job it is blocklisted for, every attempt is leased
// exactly once, and every job ends: done, failed by attempts exhausted, or
// failed by the coordinator because no node may run it any more (the case
// the scheduler cannot see alone). The high failure rate reaches both
// failure endings.
func TestPickSimulationFailures(t *testing.T) {
	for _, rate := range []float64{0.03, 0.25} {
		endings := map[string]int{}
		for seed := range uint64(8) {
			sm := newSim(t, seed, Config{BlocklistAfter: 2}, 1, 2, 2, 3)
			sm.failRate = rate
			for i, n := range []int{30, 45, 20, 60} {
				sm.st.add(jobName(i), i%2, tiny, n, i).maxAttempts = 4
			}
			for round := 0; sm.active(); round++ {
				for _, n := range sm.nodes {
					sm.checkBlocklist(n, sm.step(n))
				}
				sm.failStuckJobs()
				if round > 10000 {
					t.Fatalf("rate %v seed %d: not finished after %d rounds", rate, seed, round)
				}
			}
			sm.checkExactlyOnce()
			for _, j := range sm.st.jobs {
				endings[string(j.job.State)+" "+j.job.Error]++
			}
		}
		t.Logf("failure rate %v: job endings %v", rate, endings)
		if rate > 0.2 && (endings["failed attempts exhausted"] == 0 || endings["failed blocklisted on every node"] == 0) {
			t.Errorf("failure rate %v: endings %v; want both failure paths taken", rate, endings)
		}
	}
}

// checkBlocklist: none of the node's new leases is of a job that had
// already failed BlocklistAfter times on it when the node asked.
func (sm *sim) checkBlocklist(n *simNode, leases []protocol.TaskNext) {
	for _, l := range leases {
		if f := sm.st.FailuresOn(l.Job, n.info.ID); f >= sm.s.Config().BlocklistAfter {
			sm.t.Fatalf("node %s leased %v after %d failures of its job there", n.info.ID, l.TaskKey, f)
		}
	}
}

// failStuckJobs fails jobs no node may run, as the coordinator would.
func (sm *sim) failStuckJobs() {
	for _, j := range sm.st.jobs {
		if j.job.State.Terminal() || j.queued() == 0 {
			continue
		}
		live := make([]protocol.NodeInfo, len(sm.nodes))
		for i, n := range sm.nodes {
			live[i] = n.info
		}
		if sm.s.Unplaceable(sm.st, j.job, live) != "" {
			sm.st.setState(j, protocol.JobFailed, "blocklisted on every node")
		}
	}
}
