// Package scheduler decides which queued tasks a node gets when it asks for
// work. It is pure: it reads the coordinator's state through the small
// read-only State view it declares here and returns the leases to commit; the
// caller replicates them through Raft (TaskAssign). Tests drive it with an
// in-memory State, no Raft (Nomad's harness idea; docs/architecture.md §4).
//
// # Policy
//
// Pick(st, req, now) hands out at most req.Free tasks, one at a time:
//
//  1. Nothing for a draining node or for req.Free ≤ 0.
//  2. Eligibility (per job and node, see Eligible): the job is not terminal
//     and not paused (protocol.Job.Schedulable);
//     the node is not blocklisted for it (FailuresOn(job, node) <
//     BlocklistAfter); and its model fits: a node without GPUs (CPU backend)
//     takes any model, a GPU node takes a model that is already resident on it
//     or that needs at most the MemoryFree of one of its GPUs (ModelMemory).
//     Memory is a per-job filter, not reserved per slot: the node's agent
//     runs a task only on a worker with room, and Free counts idle workers.
//  3. Priority first (protocol.Job.EffectivePriority: the spec's, or the one
//     `sanafarm priority` set): each task goes to the highest-priority level that still
//     has an eligible job with queued tasks. Lower levels are reached only
//     when every eligible job above them has nothing queued (work-conserving:
//     a free slot is never left idle while anything eligible is queued).
//  4. Fair share within a level: the task goes to the eligible job with the
//     fewest leased tasks, counting the cluster-wide LeasedCount plus the
//     tasks picked in this call.
//  5. Model affinity, without starvation: among jobs with the same leased
//     count, a job whose model is resident on the node (req.Node.Models,
//     preset names and repo ids are aliases) comes first — it needs no load.
//     A job with LoRAs or NVlabs files needs that exact variant resident
//     (nodes announce protocol.JobSpec.VariantKey).
//     Affinity never beats a lower leased count, so a job below its fair share
//     is always served before a resident one.
//  6. Remaining ties: older job first (CreatedAt), then the smaller ID.
//  7. Within a job, tasks go in shard order (QueuedTasks' order). Each lease
//     is attempt = task.Attempt + 1 and deadline = now + LeaseTTL.
//
// The result depends only on the State's contents and the request: job order
// from ActiveJobs does not matter and no map iteration is involved.
//
// A job blocklisted on every live node is never picked again; the scheduler
// cannot see other nodes, so the coordinator fails such a job: it asks
// Unplaceable with the live nodes on every leader tick (placeable.go). With
// no live node at all a job waits.
//
// # Cost
//
// One Pick reads ActiveJobs, one LeasedCount per job of the levels it visits
// (usually only the top one), and FailuresOn and QueuedTasks (limit ≤ the
// remaining free slots) only for the jobs it actually tries, in order of
// preference: O(J + F·log J) for J jobs and F free slots, never a scan of
// all queued tasks.
package scheduler

import (
	"path"
	"slices"
	"strings"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// State is the read-only view of the coordinator's state the scheduler
// consumes. It must not change during a Pick call.
type State interface {
	// ActiveJobs returns the non-terminal jobs (any order); paused ones may
	// be left out (never eligible), and the coordinator's view returns only
	// its runnable index (coordinator/state/runnable.go). Pick never
	// writes to the slice, so an implementation may return one it shares
	// and rebuilds only when a job changes: copying every Job on every
	// lease request costs more than the rest of Pick (see BenchmarkPick).
	ActiveJobs() []protocol.Job
	// QueuedTasks returns up to limit queued tasks of the job in shard order.
	QueuedTasks(job protocol.JobID, limit int) []protocol.Task
	// LeasedCount is the number of tasks of the job leased to any node.
	LeasedCount(job protocol.JobID) int
	// FailuresOn is the number of failed attempts of the job on the node.
	FailuresOn(job protocol.JobID, node string) int
}

// Config tunes a Scheduler; the zero value means the defaults.
type Config struct {
	// LeaseTTL is how long a new lease lasts (0 = DefaultLeaseTTL).
	LeaseTTL time.Duration
	// BlocklistAfter failed attempts of a job on a node keep that job off
	// the node (0 = DefaultBlocklistAfter, negative = never blocklist).
	BlocklistAfter int
}

// Defaults of Config.
const (
	DefaultLeaseTTL       = 2 * time.Minute
	DefaultBlocklistAfter = 2
)

// Scheduler places queued tasks on nodes. It holds only its configuration
// and immutable lookup tables, so Pick may run concurrently.
type Scheduler struct {
	cfg Config
	// alias maps preset names to repo ids and back, so that a node with
	// "sana-600m-512" resident serves a job naming its repo, and vice versa.
	alias map[string]string
	// memory caches ModelMemory of every preset name and repo id (read-only
	// after New), the models nearly every job names.
	memory map[string]uint64
}

// New returns a Scheduler with cfg's zero fields set to their defaults.
func New(cfg Config) *Scheduler {
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.BlocklistAfter == 0 {
		cfg.BlocklistAfter = DefaultBlocklistAfter
	}
	s := &Scheduler{cfg: cfg, alias: map[string]string{}, memory: map[string]uint64{}}
	for _, p := range protocol.Presets() {
		s.memory[p.Name] = ModelMemory(p.Name)
		if p.Repo != "" {
			s.alias[p.Name], s.alias[p.Repo] = p.Repo, p.Name
			s.memory[p.Repo] = ModelMemory(p.Repo)
		}
	}
	return s
}

// modelMemory is ModelMemory, from the preset cache when it can.
func (s *Scheduler) modelMemory(model string) uint64 {
	if m, ok := s.memory[model]; ok {
		return m
	}
	return ModelMemory(model)
}

// Config returns the effective configuration (defaults applied).
func (s *Scheduler) Config() Config { return s.cfg }

// Pick chooses up to req.Free tasks for the requesting node and returns the
// leases to commit (attempt = task.Attempt + 1, deadline = now + LeaseTTL),
// in the order they were chosen. See the package doc for the policy.
func (s *Scheduler) Pick(st State, req protocol.LeaseRequest, now time.Time) []protocol.TaskNext {
	if req.Node.Draining || req.Free <= 0 {
		return nil
	}
	jobs := st.ActiveJobs()
	p := &picker{
		s: s, st: st, node: req.Node, want: req.Free,
		deadline: now.Add(s.cfg.LeaseTTL),
		resident: s.residentSet(req.Node.Models),
	}
	prio, first := 0, true
	for len(p.out) < p.want {
		var ok bool
		if prio, ok = highestBelow(jobs, prio, first); !ok {
			break
		}
		first = false
		p.fillLevel(jobs, prio)
	}
	return p.out
}

// Eligible reports whether the node may run tasks of the job at all:
// it is not draining, the job is active and not paused, the node is not blocklisted
// for the job, and the job's model fits the node's memory.
func (s *Scheduler) Eligible(st State, job protocol.Job, node protocol.NodeInfo) bool {
	if node.Draining || !job.Schedulable() {
		return false
	}
	return s.eligible(st, job, node, s.holdsModel(s.residentSet(node.Models), job.Spec.Model))
}

func (s *Scheduler) eligible(st State, job protocol.Job, node protocol.NodeInfo, resident bool) bool {
	if s.cfg.BlocklistAfter > 0 && st.FailuresOn(job.ID, node.ID) >= s.cfg.BlocklistAfter {
		return false
	}
	if f := job.Spec.NeedsFeature(); f != "" && !slices.Contains(node.Features, f) {
		return false // a node of an earlier release would ignore the job's inputs
	}
	// A resident model costs no new memory; CPU nodes hold any model.
	return len(node.GPUs) == 0 || resident || node.FreeMemory() >= s.modelMemory(memoryName(job.Spec))
}

// memoryName is the name a job's memory is estimated from: its model, or
// an NVlabs checkpoint's file name (Sana_1600M_1024px.pth names its size).
func memoryName(spec protocol.JobSpec) string {
	if spec.Model != "" || spec.Checkpoint == "" {
		return spec.Model
	}
	b := path.Base(spec.Checkpoint)
	return strings.TrimSuffix(b, path.Ext(b))
}

// residentSet expands the node's resident models with their aliases.
func (s *Scheduler) residentSet(models []string) []string {
	if len(models) == 0 {
		return nil
	}
	set := make([]string, 0, 2*len(models))
	for _, m := range models {
		set = append(set, m)
		base, variant, _ := strings.Cut(m, "+") // a fused LoRA set (protocol.JobSpec.VariantKey)
		if a, ok := s.alias[base]; ok {
			set = append(set, a+strings.TrimSuffix("+"+variant, "+"))
		}
	}
	return set
}

// holdsModel reports whether the set holds the model's weights, plain or
// with a LoRA set fused: a variant of a resident model needs no more
// memory than it (the node's pipeline cache evicts the least recently
// used), though only the exact variant (isResident) is preferred.
func (s *Scheduler) holdsModel(set []string, model string) bool {
	for _, m := range set {
		if m == model || protocol.VariantBase(m) == model {
			return true
		}
	}
	return false
}

// isResident scans the (short) resident set; cheaper than a map per Pick.
func (s *Scheduler) isResident(set []string, model string) bool {
	for _, m := range set {
		if m == model {
			return true
		}
	}
	return false
}

// highestBelow returns the highest priority of the schedulable jobs that is
// below bound (any priority when first). Levels are found lazily because
// almost every Pick is served by the top level alone.
func highestBelow(jobs []protocol.Job, bound int, first bool) (int, bool) {
	best, found := 0, false
	for i := range jobs {
		p := jobs[i].EffectivePriority()
		if !jobs[i].Schedulable() || (!first && p >= bound) {
			continue
		}
		if !found || p > best {
			best, found = p, true
		}
	}
	return best, found
}

// picker is the state of one Pick call.
type picker struct {
	s        *Scheduler
	st       State
	node     protocol.NodeInfo
	resident []string
	want     int
	deadline time.Time
	out      []protocol.TaskNext
}

// fillLevel hands tasks to the jobs of one priority level, fewest leased
// first, until the node is full or the level has nothing eligible left.
func (p *picker) fillLevel(jobs []protocol.Job, prio int) {
	n := 0
	for i := range jobs {
		if jobs[i].EffectivePriority() == prio && jobs[i].Schedulable() {
			n++
		}
	}
	cands := make([]candidate, 0, n)
	for i := range jobs {
		j := &jobs[i]
		if j.EffectivePriority() != prio || !j.Schedulable() {
			continue
		}
		cands = append(cands, candidate{job: j, leased: p.st.LeasedCount(j.ID),
			resident: p.s.isResident(p.resident, j.Spec.VariantKey())})
	}
	h := make(candHeap, len(cands))
	for i := range cands {
		h[i] = &cands[i]
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
	for len(p.out) < p.want && len(h) > 0 {
		if t, ok := p.next(h[0]); ok {
			p.out = append(p.out, protocol.TaskNext{TaskKey: t.TaskKey, Attempt: t.Attempt + 1, Deadline: p.deadline})
			h[0].leased++ // keys only grow, so sifting down restores the heap
		} else {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		h.down(0)
	}
}

// next returns the candidate's next queued task, checking eligibility and
// fetching its queue on first use (lazily: most jobs are never tried).
func (p *picker) next(c *candidate) (protocol.Task, bool) {
	if !c.tried {
		c.tried = true
		if !p.s.eligible(p.st, *c.job, p.node, c.resident || p.s.holdsModel(p.resident, c.job.Spec.Model)) {
			return protocol.Task{}, false
		}
		// No job can take more than the remaining slots, so this limit is
		// enough for the rest of the call.
		c.tasks = p.st.QueuedTasks(c.job.ID, p.want-len(p.out))
	}
	for c.pos < len(c.tasks) {
		t := c.tasks[c.pos]
		c.pos++
		if t.Job == c.job.ID { // defensive: never lease another job's task
			return t, true
		}
	}
	return protocol.Task{}, false
}

// candidate is one job of the level being filled.
type candidate struct {
	job      *protocol.Job
	leased   int // LeasedCount + picked in this call
	resident bool
	tried    bool
	tasks    []protocol.Task
	pos      int
}

// before is the preference order: fewest leased, resident model, older, ID.
func (a *candidate) before(b *candidate) bool {
	if a.leased != b.leased {
		return a.leased < b.leased
	}
	if a.resident != b.resident {
		return a.resident
	}
	if !a.job.CreatedAt.Equal(b.job.CreatedAt) {
		return a.job.CreatedAt.Before(b.job.CreatedAt)
	}
	return a.job.ID < b.job.ID
}

// candHeap is a binary min-heap by before. It is typed rather than
// container/heap because Pick only ever sifts down, and the interface calls
// were a sixth of its time.
type candHeap []*candidate

func (h candHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].before(h[l]) {
			m = r
		}
		if !h[m].before(h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
