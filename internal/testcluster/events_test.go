package testcluster_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/internal/testcluster"
	"github.com/sanafarm/sanafarm/protocol"
)

// jobEnded: the job's terminal job event.
func jobEnded(e api.Event) bool {
	return e.Type == api.EventJob && protocol.JobState(e.State).Terminal()
}

// readEvents collects a stream's events until stop holds for one (kept)
// or ctx ends; a stream error other than a dropped connection fails.
func readEvents(ctx context.Context, t *testing.T, cl *client.Client, id protocol.JobID, since *uint64, stop func(api.Event) bool) []api.Event {
	var out []api.Event
	for e, err := range cl.Events(ctx, api.EventFilter{Jobs: []protocol.JobID{id}}, since) {
		if err != nil {
			t.Logf("stream: %v", err)
			continue
		}
		out = append(out, e)
		if stop(e) {
			break
		}
	}
	return out
}

// TestEventStreamOnFollower: 3 voters, 2 real sana-tiny nodes. A stream
// on a follower sees the job's progress and its done event in order; a
// client that disconnects mid-job and resumes with Last-Event-ID misses
// nothing (its events equal an uninterrupted stream's); the leader is
// killed mid-stream and the follower's streams still deliver the done
// event (a follower applies only committed entries, which a leader change
// never retracts).
func TestEventStreamOnFollower(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Coordinators: 3, Nodes: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	lead := c.LeaderIndex()
	follower := (lead + 1) % 3
	cl := client.New(c.Coordinator(follower).URL(), "test-token")
	id := protocol.NewJobID()
	// A resume point before the submit (event ids are raft index × 4096,
	// api.Event), so the streams that connect asynchronously miss nothing.
	since := c.Coordinator(follower).Store().Index() << 12
	ref := make(chan []api.Event, 1)
	go func() { ref <- readEvents(ctx, t, cl, id, &since, jobEnded) }()

	if _, err := cl.SubmitJobID(ctx, id, tinyJob(filepath.Join(c.OutputDir, "events"), 12, 2, 2)); err != nil { // 12 shards × 2 images
		t.Fatalf("submitting: %v", err)
	}
	doneShards := func(n int) func(api.Event) bool {
		seen := 0
		return func(e api.Event) bool {
			if e.Type == api.EventTask && e.State == string(protocol.TaskDone) {
				seen++
			}
			return seen >= n || jobEnded(e)
		}
	}
	first := readEvents(ctx, t, cl, id, &since, doneShards(2)) // then it disconnects
	resume := first[len(first)-1].ID
	second := readEvents(ctx, t, cl, id, &resume, doneShards(3)) // resumed with Last-Event-ID
	if j, _ := c.Coordinator(follower).Store().JobByID(id); j.State.Terminal() {
		t.Fatalf("the job ended before the leader could be killed: %+v", j)
	}
	killed := c.KillLeader()
	if killed == follower {
		t.Fatalf("killed the streamed follower c%d", follower)
	}
	t.Logf("leader c%d killed after %d+%d events", killed, len(first), len(second))
	last := second[len(second)-1].ID
	third := readEvents(ctx, t, cl, id, &last, jobEnded)
	var want []api.Event
	select {
	case want = <-ref:
	case <-ctx.Done():
		t.Fatal("the uninterrupted stream did not see the job end")
	}
	got := append(append(first, second...), third...)
	checkJobEvents(t, got, want)
}

// checkJobEvents: the resumed streams equal the uninterrupted one, ids
// increase, every shard's done task event is there, progress is reported,
// and the last event is the job done with all its images.
func checkJobEvents(t *testing.T, got, want []api.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("resumed streams saw %d events, the uninterrupted one %d", len(got), len(want))
	}
	done, progress := map[int]bool{}, 0
	for i, e := range got {
		w := want[i]
		if e.ID != w.ID || e.Type != w.Type || e.State != w.State || e.ImagesDone != w.ImagesDone {
			t.Fatalf("event %d: %+v, uninterrupted %+v", i, e, w)
		}
		if i > 0 && e.ID <= got[i-1].ID {
			t.Fatalf("event %d: id %d after %d", i, e.ID, got[i-1].ID)
		}
		switch {
		case e.Type == api.EventProgress:
			progress++
		case e.Type == api.EventTask && e.State == string(protocol.TaskDone):
			done[*e.Shard] = true
		}
	}
	end := got[len(got)-1]
	if end.Type != api.EventJob || end.State != string(protocol.JobDone) || end.ImagesDone != 24 || end.Images != 24 {
		t.Fatalf("last event %+v, want the job done with 24/24 images", end)
	}
	if len(done) != 12 || progress == 0 {
		t.Fatalf("%d shards done, %d progress events; want 12 and some", len(done), progress)
	}
	t.Logf("%d events: %d progress, 12 shards done, job done", len(got), progress)
}
