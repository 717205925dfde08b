package testcluster_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/embedded/embedtest"
	"github.com/sanafarm/sanafarm/internal/testcluster"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestNodeRestartWhileEtcdFull: etcd reaches its quota (NOSPACE: every
// write refused) mid-job, and then the only node is killed and started
// again. Its old key expires; the new process cannot register (etcd
// refuses its lease) but asks for work over NATS, is granted it and
// finishes the job, with no strike for the restart. Once the operator
// frees etcd (docs/deploy.md §8), the node registers again and is live.
func TestNodeRestartWhileEtcdFull(t *testing.T) {
	const nodeTTL = 2 * time.Second
	c := testcluster.Start(t, testcluster.Options{Coordinators: 1, Nodes: 1, NodeLeaseTTL: nodeTTL,
		LeaseTTL: 6 * time.Second, EtcdQuota: 4 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	job, err := c.Client().SubmitJob(ctx, tinyJob(filepath.Join(c.OutputDir, "etcd-full"), 6, 1, 1))
	if err != nil {
		t.Fatalf("submitting: %v", err)
	}
	waitFor(t, 60*time.Second, "n0 holding a shard", func() bool { return len(c.Leader().Store().LeasesByNode()["n0"]) > 0 })
	embedtest.FillEtcd(t, ctx, c.Etcd)
	registered := func() bool {
		resp, err := c.Etcd.Get(ctx, protocol.NodeKey("n0"))
		return err == nil && len(resp.Kvs) == 1
	}

	c.KillNode(0)
	waitFor(t, nodeTTL+10*time.Second, "n0's etcd key to expire", func() bool { return !registered() })
	c.RestartNode(0)
	j, err := c.WaitJob(ctx, job.ID)
	if err != nil || j.State != protocol.JobDone {
		t.Fatalf("job after the restart while etcd is full: %+v %v", j, err)
	}
	if registered() {
		t.Fatal("n0 registered while etcd was full: the test checked nothing")
	}
	if n := c.Leader().Store().View().FailuresOn(job.ID, "n0"); n != 0 {
		t.Errorf("n0 has %d strikes for restarting", n)
	}

	embedtest.FreeEtcd(t, ctx, c.Etcd)
	waitFor(t, 30*time.Second, "n0 registered and live again", func() bool {
		for _, n := range c.Leader().Nodes() {
			if n.Info.ID == "n0" && n.Live {
				return true
			}
		}
		return false
	})
}
