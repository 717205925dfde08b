package scheduler

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sanafarm/sanafarm/protocol"
)

// Placeable reports why the node can never run tasks of the job as things
// stand (nil: it can, now or once its GPUs free up). It is Eligible minus
// the transient part: the coordinator fails a job that no live node can
// place (see the package doc), and a node whose GPUs are busy with other
// models is not a reason to fail anything, so memory is checked against
// the largest GPU's total rather than its free memory. A draining node
// and a blocklisted node cannot place the job.
func (s *Scheduler) Placeable(st State, job protocol.Job, node protocol.NodeInfo) error {
	switch {
	case job.State.Terminal():
		return fmt.Errorf("job is %s", job.State)
	case node.Draining:
		return fmt.Errorf("draining")
	}
	if n := st.FailuresOn(job.ID, node.ID); s.cfg.BlocklistAfter > 0 && n >= s.cfg.BlocklistAfter {
		return fmt.Errorf("blocklisted after %d failed attempts", n)
	}
	if f := job.Spec.NeedsFeature(); f != "" && !slices.Contains(node.Features, f) {
		return fmt.Errorf("its release does not run jobs with loras, init images or config/checkpoint (no %q feature; upgrade it)", f)
	}
	if len(node.GPUs) == 0 || s.holdsModel(s.residentSet(node.Models), job.Spec.Model) {
		return nil
	}
	var largest uint64
	for _, g := range node.GPUs {
		largest = max(largest, g.MemoryTotal)
	}
	if need := s.modelMemory(memoryName(job.Spec)); largest < need {
		return fmt.Errorf("model %s needs about %d GiB, its largest GPU has %d GiB", memoryName(job.Spec), need>>30, largest>>30)
	}
	return nil
}

// maxListedNodes bounds the nodes named in Unplaceable's reason.
const maxListedNodes = 5

// Unplaceable returns why no live node may run the job's queued tasks, or
// "" when enough of them may. A job needs one placeable node, a parallel
// (gang) job Ranks() distinct ones. Draining nodes do not count either
// way, and with no other live node the answer is "": a farm without nodes
// (all restarting, or not started yet) keeps its jobs waiting rather than
// failing them all. The coordinator fails a job while this stays
// non-empty (docs/architecture.md §6: a job always ends).
func (s *Scheduler) Unplaceable(st State, job protocol.Job, live []protocol.NodeInfo) string {
	if !job.Schedulable() { // a paused job waits for its resume, whatever the nodes

		return ""
	}
	need, ok, considered := max(job.Spec.Ranks(), 1), 0, 0
	var why []string
	for _, n := range live {
		if n.Draining {
			continue
		}
		considered++
		err := s.Placeable(st, job, n)
		if err == nil {
			ok++
			continue
		}
		if len(why) < maxListedNodes {
			why = append(why, n.ID+": "+err.Error())
		}
	}
	if considered == 0 || ok >= need {
		return ""
	}
	if considered-ok > maxListedNodes {
		why = append(why, fmt.Sprintf("and %d more", considered-ok-maxListedNodes))
	}
	if need > 1 {
		msg := fmt.Sprintf("parallel %s needs %d nodes, %d live, %d of them may run it", job.Spec.Parallel, need, considered, ok)
		if len(why) > 0 {
			msg += " (" + strings.Join(why, "; ") + ")"
		}
		return msg
	}
	return fmt.Sprintf("no live node may run it (%s)", strings.Join(why, "; "))
}
