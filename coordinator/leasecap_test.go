package coordinator

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/embedded/embedtest"
	"github.com/sanafarm/sanafarm/protocol"
)

func TestFitGrant(t *testing.T) {
	env := int64(len(`{"assignments":[]}`))
	for _, tc := range []struct {
		name       string
		sizes      []int
		budget     int64
		keep, over []int
	}{
		{"unbounded", []int{5, 1 << 30}, 0, []int{0, 1}, nil},
		{"all fit", []int{10, 10, 10}, env + 33, []int{0, 1, 2}, nil},
		{"at the limit", []int{10, 10, 10}, env + 22, []int{0, 1}, nil},
		{"one byte short", []int{10, 10}, env + 21, []int{0}, nil},
		{"alone too big", []int{10, 100, 10}, env + 50, []int{0, 2}, []int{1}},
		{"first too big", []int{100, 10}, env + 50, []int{1}, []int{0}},
		{"shard order kept", []int{30, 30, 5}, env + 40, []int{0}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keep, over := fitGrant(tc.sizes, tc.budget)
			if !slices.Equal(keep, tc.keep) || !slices.Equal(over, tc.over) {
				t.Fatalf("fitGrant(%v, %d) = keep %v over %v, want %v %v", tc.sizes, tc.budget, keep, over, tc.keep, tc.over)
			}
		})
	}
	if b := replyBudget(1 << 20); b != 1<<20-1<<15 {
		t.Errorf("budget under 1 MiB: %d", b)
	}
}

// TestLeaseGrantUnderMaxPayload: against a NATS server with a 16 KiB
// max_payload, a grant of big assignments is cut to what one reply
// carries (the reply goes through NATS), the rest stays queued for the
// next request, and a job whose assignment alone is too big fails with
// the sizes named instead of being leased.
func TestLeaseGrantUnderMaxPayload(t *testing.T) {
	const maxPayload = 16 << 10
	small := embedtest.NATS(t, maxPayload)
	c := startCluster(t, 1, func(cfg *Config) { cfg.NATS = connectNATS(t, small) })
	c.serving(10 * time.Second)
	srv := c.members[0].srv
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	big := testSpec(16)
	big.ShardSize = 4
	for i := range big.Prompts.Inline {
		big.Prompts.Inline[i] = strings.Repeat("a red fox in the snow ", 45) // ≈ 1 KB
	}
	bigJob, err := srv.SubmitJob(ctx, "j-big", big)
	if err != nil {
		t.Fatal(err)
	}
	node := protocol.NodeInfo{ID: "n1", Backend: "cpu", Slots: 4}
	req, _ := json.Marshal(protocol.LeaseRequest{Node: node, Free: 4})
	nc := connectNATS(t, small)
	msg, err := nc.Request(protocol.SubjectLease, req, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rep protocol.LeaseReply
	if err := json.Unmarshal(msg.Data, &rep); err != nil || rep.Error != nil {
		t.Fatalf("reply %v %v", rep.Error, err)
	}
	n := len(rep.Assignments)
	t.Logf("granted %d of 4 assignments in a %d-byte reply (max_payload %d)", n, len(msg.Data), maxPayload)
	if n == 0 || n == 4 || len(msg.Data) > maxPayload {
		t.Fatalf("granted %d assignments in %d bytes", n, len(msg.Data))
	}
	if cnt, _ := srv.store.TaskCounts(bigJob.ID); cnt.Leased != n || cnt.Queued != 4-n {
		t.Fatalf("counts %+v after granting %d: the rest must stay queued, not leased", cnt, n)
	}
	next := srv.Lease(ctx, protocol.LeaseRequest{Node: node, Free: 4})
	if len(next.Assignments) == 0 || next.Assignments[0].Task.Shard != n {
		t.Fatalf("next grant %+v", next)
	}

	huge := testSpec(2)
	huge.NegativePrompt = strings.Repeat("blurry, ", 2500) // 20 KB: no reply can carry it
	hugeJob, err := srv.SubmitJob(ctx, "j-huge", huge)
	if err != nil {
		t.Fatal(err)
	}
	leases := srv.store.Stats().Leases
	if r := srv.Lease(ctx, protocol.LeaseRequest{Node: protocol.NodeInfo{ID: "n2", Backend: "cpu", Slots: 1}, Free: 1}); len(r.Assignments) != 0 {
		t.Fatalf("leased an oversized assignment: %+v", r.Assignments[0].Task)
	}
	j, _ := srv.store.JobByID(hugeJob.ID)
	if j.State != protocol.JobFailed || !strings.Contains(j.Error, "max_payload") || !strings.Contains(j.Error, "shard 0") {
		t.Fatalf("oversized job %s: %q", j.State, j.Error)
	}
	if got := srv.store.Stats().Leases; got != leases {
		t.Fatalf("%d leases committed for the oversized job", got-leases)
	}
}
