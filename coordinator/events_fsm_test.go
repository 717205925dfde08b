package coordinator

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// eventLine renders an event compactly for comparison.
func eventLine(e api.Event) string {
	s := e.Type
	if e.Job != "" {
		s += " " + string(e.Job)
	}
	if e.Shard != nil {
		s += fmt.Sprintf("/%d#%d", *e.Shard, e.Attempt)
	}
	if e.Node != "" {
		s += " @" + e.Node
	}
	if e.State != "" {
		s += " " + e.State
	}
	if e.Type == api.EventProgress || e.Type == api.EventTask {
		s += fmt.Sprintf(" shard=%d", e.ShardDone)
	}
	if e.Type != api.EventNode && e.Type != api.EventReset {
		s += fmt.Sprintf(" %d/%d", e.ImagesDone, e.Images)
	}
	if e.Type == api.EventNode && e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	if e.Paused {
		s += " paused"
	}
	if e.Manifest {
		s += " manifest"
	}
	return s
}

func TestFSMEvents(t *testing.T) {
	f := newFSM()
	f.ev = newEventHub(eventLimits{})
	sub, _, _ := f.ev.subscribe(api.EventFilter{}, nil)
	k0, k1 := protocol.TaskKey{Job: "j", Shard: 0}, protocol.TaskKey{Job: "j", Shard: 1}
	dl := t0.Add(time.Minute)
	steps := []struct {
		typ     protocol.CommandType
		payload any
		want    []string
	}{
		{protocol.CmdJobSubmit, protocol.JobSubmit{Job: protocol.Job{ID: "j", Spec: testSpec(2)}, At: t0}, []string{"job j queued 0/2"}},
		{protocol.CmdJobSubmit, protocol.JobSubmit{Job: protocol.Job{ID: "j", Spec: testSpec(2)}, At: t0}, nil}, // refused: nothing
		{protocol.CmdTaskAssign, protocol.TaskAssign{Node: "n1", At: t0, Leases: []protocol.TaskNext{
			{TaskKey: k0, Attempt: 1, Deadline: dl}}}, []string{"task j/0#1 @n1 leased shard=0 0/2", "job j running 0/2"}},
		{protocol.CmdTaskProgress, protocol.TaskProgress{At: t0, Updates: []protocol.ProgressUpdate{
			{TaskKey: k0, Attempt: 1, Done: 1}, {TaskKey: k1, Attempt: 1, Done: 1}}}, []string{"progress j/0#1 @n1 shard=1 1/2"}},
		{protocol.CmdTaskProgress, protocol.TaskProgress{At: t0, Updates: []protocol.ProgressUpdate{
			{TaskKey: k0, Attempt: 1, Done: 1, Deadline: dl.Add(time.Minute)}}}, nil}, // a lease extension only
		{protocol.CmdJobPause, protocol.JobPause{ID: "j", Paused: true, At: t0}, []string{"job j running 1/2 paused"}},
		{protocol.CmdNodeDrain, protocol.NodeDrain{Node: "n1", Drain: true, At: t0}, []string{"node @n1 drained"}},
		{protocol.CmdNodeDrain | protocol.IgnoreUnknown, protocol.NodeDrain{Node: "n3", Drain: true, Auto: true, Reason: "auto-drained: 3 in a row", At: t0},
			[]string{"node @n3 drained (auto-drained: 3 in a row)"}},
		{protocol.CmdNodeDrain | protocol.IgnoreUnknown, protocol.NodeDrain{Node: "n1", Drain: true, Auto: true, Reason: "auto", At: t0},
			nil}, // n1 stays drained by the operator: nothing changed
		{protocol.CmdTaskFail, protocol.TaskFail{TaskKey: k0, Attempt: 1, Node: "n1", Reason: "oom", At: t0},
			[]string{"task j/0#1 @n1 queued shard=0 0/2"}},
		{protocol.CmdJobPause, protocol.JobPause{ID: "j", At: t0}, []string{"job j running 0/2"}},
		{protocol.CmdTaskAssign, protocol.TaskAssign{Node: "n2", At: t0, Leases: []protocol.TaskNext{
			{TaskKey: k0, Attempt: 2, Deadline: dl}}}, []string{"task j/0#2 @n2 leased shard=0 0/2"}},
		{protocol.CmdTaskComplete, protocol.TaskComplete{TaskKey: k0, Attempt: 2, At: t0, Result: protocol.ShardInfo{Node: "n2", Images: 2}},
			[]string{"task j/0#2 @n2 done shard=2 2/2", "job j done 2/2"}},
		{protocol.CmdJobManifest, protocol.JobManifest{ID: "j", At: t0}, []string{"job j done 2/2 manifest"}},
		{protocol.CmdJobDelete, protocol.JobDelete{IDs: []protocol.JobID{"j"}, At: t0}, []string{"job j deleted 0/0"}},
	}
	for i, s := range steps {
		f.Apply(entry(t, uint64(i+1), s.typ, s.payload))
		var got []string
		for len(sub.ch) > 0 {
			e := <-sub.ch
			if e.ID>>eventSeqBits != uint64(i+1) {
				t.Errorf("step %d: event id %d is not of entry %d", i, e.ID, i+1)
			}
			got = append(got, eventLine(e))
		}
		if !slices.Equal(got, s.want) {
			t.Errorf("step %d (%v): events\n%s\nwant\n%s", i, s.typ, strings.Join(got, "\n"), strings.Join(s.want, "\n"))
		}
	}
}
