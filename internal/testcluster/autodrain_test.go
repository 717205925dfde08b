package testcluster_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/testcluster"
	"github.com/sanafarm/sanafarm/node"
	"github.com/sanafarm/sanafarm/protocol"
)

// brokenGPU is a node whose every shard fails, as one with a poisoned
// CUDA context would; it counts its runs.
type brokenGPU struct {
	mu   sync.Mutex
	runs int
}

func (b *brokenGPU) Execute(_ context.Context, a protocol.Assignment, _ func(int)) (protocol.ShardInfo, error) {
	b.mu.Lock()
	b.runs++
	b.mu.Unlock()
	return protocol.ShardInfo{}, errors.New("cuda: an illegal memory access was encountered (Xid 31)")
}

func (b *brokenGPU) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.runs
}

// TestAutoDrainBrokenNode: on 3 voters and 3 nodes, one node fails every
// shard it gets. The leader drains it once three of its failed shards
// completed elsewhere, with its error in the reason on every voter; it
// runs nothing after that; the jobs, which could have failed on it
// shard by shard (each failure costs an attempt), all complete.
func TestAutoDrainBrokenNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bad := &brokenGPU{}
	good := &script{delay: 100 * time.Millisecond}
	var badID string
	c := testcluster.Start(t, testcluster.Options{Coordinators: 3, Nodes: 3,
		Executor: func(i int, id string) node.Executor {
			if i == 0 {
				badID = id
				return bad
			}
			return scriptedExec{node: id, s: good}
		}})
	cl := c.Client()
	var jobs []protocol.JobID
	for i := range 3 {
		spec := fixtureJob(8)
		spec.MaxAttempts = 3
		spec.Output.URL = fmt.Sprintf("file:///fixture/out-%d", i)
		j, err := cl.SubmitJob(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j.ID)
	}
	for _, id := range jobs {
		if j, err := c.WaitJob(ctx, id); err != nil || j.State != protocol.JobDone {
			t.Fatalf("job %s: %+v %v", id, j, err)
		}
	}
	waitFor(t, 10*time.Second, "the broken node auto-drained on every voter", func() bool {
		for i := range 3 {
			if nc, _ := c.Coordinator(i).Store().NodeControl(badID); !nc.Auto {
				return false
			}
		}
		return true
	})
	nc, _ := c.Leader().Store().NodeControl(badID)
	if !nc.Drain || !strings.Contains(nc.Reason, "Xid 31") {
		t.Errorf("control of the broken node %+v: want a drain quoting its error", nc)
	}
	for i := range 3 {
		if id := c.Node(i).ID(); id != badID {
			if nc, ok := c.Leader().Store().NodeControl(id); ok {
				t.Errorf("healthy node %s controlled: %+v", id, nc)
			}
		}
	}
	before := bad.count()
	spec := fixtureJob(6)
	spec.Output.URL = "file:///fixture/out-after"
	j, err := cl.SubmitJob(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if j, err := c.WaitJob(ctx, j.ID); err != nil || j.State != protocol.JobDone {
		t.Fatalf("job after the drain: %+v %v", j, err)
	}
	if after := bad.count(); after != before {
		t.Errorf("the drained node ran %d shards after its drain", after-before)
	}
}
