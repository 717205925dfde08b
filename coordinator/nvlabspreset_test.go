package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestSubmitNVlabsPreset: a job naming an NVlabs preset is committed as
// the job naming its config and checkpoint (what nodes load and the
// scheduler keys), and resubmitting it under the same id is idempotent.
func TestSubmitNVlabsPreset(t *testing.T) {
	c := startCluster(t, 1, nil)
	srv := c.members[c.leader(10*time.Second)].srv
	cl := client.New(srv.URL(), clusterToken)
	spec := protocol.JobSpec{Model: "sana-1600m-1024-nvlabs", Prompts: protocol.PromptSource{Inline: []string{"a fox"}},
		Output: protocol.OutputSpec{URL: "file://" + t.TempDir()}}
	j, err := cl.SubmitJobID(context.Background(), "j-nv", spec)
	if err != nil {
		t.Fatal(err)
	}
	want := spec.ExpandPreset()
	stored, _ := srv.store.JobByID("j-nv")
	if j.Spec.Model != "" || j.Spec.Config != want.Config || j.Spec.Checkpoint != want.Checkpoint ||
		stored.Spec.Config != want.Config || stored.Spec.VariantKey() != want.VariantKey() {
		t.Errorf("job %+v, stored %+v, want %+v", j.Spec, stored.Spec, want)
	}
	if _, err := cl.SubmitJobID(context.Background(), "j-nv", spec); err != nil {
		t.Errorf("resubmit: %v", err)
	}
}
