package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// Lease grants are capped by count (a node asks for at most its free
// slots, protocol.MaxLeaseFree) and by encoded size: the reply travels on
// NATS, whose server refuses a message over max_payload (1 MiB by
// default). An assignment carries its job's spec with the inline prompts
// trimmed to its rows (protocol.JobSpec.ForSamples), yet LoRAs or a long
// negative prompt can still make it big, and a reply refused after the
// TaskAssign commit left leases that could only expire, each burning an
// attempt (docs/scale.md). So the grant is sized before it is committed:
// what does not fit waits for the next request, and a shard whose
// assignment alone can never fit fails its job with the sizes named.

// replyBudget is how many bytes of assignments one lease reply may carry
// under a connection's max_payload (0: unbounded): a margin stays free for
// the reply's envelope and the leased form of each task, which the
// estimate (assignmentOf) sizes before the commit fills it in.
func replyBudget(maxPayload int64) int64 {
	if maxPayload <= 0 {
		return 0
	}
	margin := min(max(maxPayload/32, 512), maxPayload/2)
	return maxPayload - margin
}

// fitGrant chooses, from the encoded sizes of the picked assignments in
// pick order, those one reply of at most budget bytes carries (keep: a
// prefix of the ones that fit, their commas and envelope counted), and
// those that alone exceed the budget (over). The rest wait.
func fitGrant(sizes []int, budget int64) (keep, over []int) {
	total, full := int64(len(`{"assignments":[]}`)), false
	for i, n := range sizes {
		switch size := int64(n) + 1; {
		case budget <= 0:
			keep = append(keep, i)
		case size+int64(len(`{"assignments":[]}`)) > budget:
			over = append(over, i)
		case !full && total+size <= budget:
			keep = append(keep, i)
			total += size
		default:
			full = true // keep shard order: nothing after the first that waits
		}
	}
	return keep, over
}

// assignmentOf is the assignment a lease would put in the reply, as the
// store holds it before the commit (the task still queued) with the
// lease's fields filled in.
func (s *Server) assignmentOf(node string, l protocol.TaskNext) protocol.Assignment {
	t, _ := s.store.TaskByKey(l.TaskKey)
	j, _ := s.store.JobByID(l.Job)
	t.State, t.Attempt, t.Assignee, t.Deadline, t.Progress = protocol.TaskLeased, l.Attempt, node, l.Deadline, 0
	return protocol.Assignment{Task: t, Spec: j.Spec.ForSamples(t.Start, t.End), Deadline: l.Deadline}
}

// capGrant sizes the picked (and reserved) leases against the NATS
// connection's max_payload and returns those to commit; it releases the
// others' reservations, after failing the jobs of the oversized ones.
func (s *Server) capGrant(ctx context.Context, node string, leases []protocol.TaskNext, now time.Time) []protocol.TaskNext {
	if s.cfg.NATS == nil || len(leases) == 0 {
		return leases
	}
	maxPayload := s.cfg.NATS.MaxPayload()
	budget := replyBudget(maxPayload)
	sizes := make([]int, len(leases))
	for i, l := range leases {
		sizes[i] = encodedSize(s.assignmentOf(node, l)) // one that does not encode is failed below
	}
	keep, over := fitGrant(sizes, budget)
	for _, i := range over {
		l := leases[i]
		s.failJob(ctx, l.Job, fmt.Sprintf("shard %d: its assignment is %d bytes encoded, over the %d bytes a lease reply may carry under NATS max_payload %d (inline prompts are trimmed to the shard; LoRAs, negative prompt or other spec fields are too big)",
			l.Shard, sizes[i], budget, maxPayload), now)
	}
	kept := make([]protocol.TaskNext, 0, len(keep))
	inKeep := make(map[int]bool, len(keep))
	for _, i := range keep {
		kept = append(kept, leases[i])
		inKeep[i] = true
	}
	var dropped []protocol.TaskNext
	for i, l := range leases {
		if !inKeep[i] {
			dropped = append(dropped, l)
		}
	}
	s.reserved.release(dropped)
	return kept
}

// encodedSize is a's size on the wire (too big to send, MaxInt32, if it
// does not encode).
func encodedSize(a protocol.Assignment) int {
	b, err := json.Marshal(a)
	if err != nil {
		return math.MaxInt32
	}
	return len(b)
}
