package testcluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/testcluster"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestUnrunnableModelFails (issue 13 item 3): a job naming a model that
// does not exist fails on both (real, CPU) nodes twice, which blocklists
// it everywhere; the leader then fails the job with the nodes' reason
// instead of leaving it running forever.
func TestUnrunnableModelFails(t *testing.T) {
	t.Setenv("HF_HUB_OFFLINE", "1") // the model is never in the cache: fail fast
	t.Setenv("HF_HOME", t.TempDir())
	c := testcluster.Start(t, testcluster.Options{Nodes: 2})
	waitFor(t, 10*time.Second, "both nodes live", func() bool { return len(c.Leader().Nodes()) == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := protocol.JobSpec{Model: "nobody/no-such-model", ShardSize: 1, MaxAttempts: 10,
		Prompts: protocol.PromptSource{Inline: []string{"a red fox", "a lighthouse"}},
		Output:  protocol.OutputSpec{URL: "file://" + c.OutputDir + "/typo"}}
	job, err := c.Client().SubmitJob(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	j, err := c.WaitJob(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != protocol.JobFailed {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	for _, want := range []string{"no live node may run it", "n0: blocklisted", "n1: blocklisted", "nobody/no-such-model"} {
		if !strings.Contains(j.Error, want) {
			t.Errorf("job error %q lacks %q", j.Error, want)
		}
	}
}
