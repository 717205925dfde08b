package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/protocol"
)

// TestFSMJobBytesInLog: CmdJobSubmitBounded entries are checked in log
// order against the sizes earlier ones recorded, so submits that two
// leaders each checked alone (around an election) cannot pass the bound
// together; a plain CmdJobSubmit's payload cannot carry the bound or a
// size (an older voter ignores both), and a restored replica decides as
// the others do.
func TestFSMJobBytesInLog(t *testing.T) {
	f := newFSM()
	bounded := func(i uint64, id protocol.JobID, size int64) any {
		return f.Apply(entry(t, i, protocol.CmdJobSubmitBounded,
			protocol.JobSubmit{Job: protocol.Job{ID: id, Spec: testSpec(2), SpecBytes: size}, At: t0, MaxSpecBytes: 1000}))
	}
	if r := bounded(1, "a", 600); r != nil {
		t.Fatalf("first submit: %v", r)
	}
	if r := bounded(2, "b", 500); protocol.CodeOf(asErr(r)) != protocol.CodeTooLarge {
		t.Fatalf("a submit past the bound (checked by another leader): %v, want too_large", r)
	}
	if _, ok := f.st.JobByID("b"); ok {
		t.Fatal("the refused job is held")
	}
	raw, _ := json.Marshal(protocol.JobSubmit{Job: protocol.Job{ID: "plain", Spec: testSpec(2), SpecBytes: 5000}, At: t0, MaxSpecBytes: 1})
	if r := f.Apply(&raft.Log{Index: 3, Type: raft.LogCommand, Data: append([]byte{byte(protocol.CmdJobSubmit)}, raw...)}); r != nil {
		t.Fatalf("a plain submit with the fields in its payload: %v", r)
	}
	if j, _ := f.st.JobByID("plain"); j.SpecBytes != 0 {
		t.Fatalf("a plain submit recorded %d spec bytes, want 0", j.SpecBytes)
	}
	if r := bounded(4, "c", 400); r != nil {
		t.Fatalf("a submit up to the bound: %v", r)
	}
	if r := bounded(5, "negative", -1); protocol.CodeOf(asErr(r)) != protocol.CodeBadRequest {
		t.Fatalf("a negative size: %v", r)
	}

	// Deleting a finished job frees what it recorded.
	f.Apply(entry(t, 7, protocol.CmdJobCancel, protocol.JobCancel{ID: "a", At: t0}))
	if r := f.Apply(entry(t, 8, protocol.CmdJobDelete|protocol.IgnoreUnknown, protocol.JobDelete{IDs: []protocol.JobID{"a"}, At: t0})); r != nil {
		if _, isErr := r.(error); isErr {
			t.Fatalf("delete: %v", r)
		}
	}
	if r := bounded(9, "e", 600); r != nil {
		t.Fatalf("with the first job deleted: %v", r)
	}
	if r := bounded(10, "f", 1); protocol.CodeOf(asErr(r)) != protocol.CodeTooLarge {
		t.Fatalf("one byte past the bound after the delete: %v", r)
	}

	restored := newFSM()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	sink := &bufSink{Buffer: &buf}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	if err := restored.Restore(sink); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*fsm{f, restored} {
		if r := g.Apply(entry(t, 11, protocol.CmdJobSubmitBounded,
			protocol.JobSubmit{Job: protocol.Job{ID: "d", Spec: testSpec(2), SpecBytes: 1}, At: t0, MaxSpecBytes: 1000})); protocol.CodeOf(asErr(r)) != protocol.CodeTooLarge {
			t.Errorf("one byte past the bound: %v, want too_large (restored: %v)", r, g == restored)
		}
	}
}

func asErr(r any) error {
	err, _ := r.(error)
	return err
}

// bufSink is a raft.SnapshotSink over a buffer that reads back.
type bufSink struct{ *bytes.Buffer }

func (bufSink) ID() string    { return "buf" }
func (bufSink) Cancel() error { return nil }
func (bufSink) Close() error  { return nil }

// TestJobBytesLogCheckReachesClient: where the leader's own count passes
// but the log's refuses (a submit another leader checked, which this one
// did not count), the client gets the same too_large error as
// from the leader's check, and nothing is held.
func TestJobBytesLogCheckReachesClient(t *testing.T) {
	one := specBytes(testSpec(50))
	c := startCluster(t, 1, func(cfg *Config) { cfg.MaxJobBytes = 3*one + one/2 })
	srv := c.members[c.leader(10*time.Second)].srv
	j, err := srv.SubmitJob(context.Background(), "first", testSpec(50))
	if err != nil {
		t.Fatal(err)
	}
	if j.SpecBytes != one {
		t.Fatalf("a one-server cluster's submit recorded %d spec bytes, want %d (CmdJobSubmitBounded)", j.SpecBytes, one)
	}
	big := protocol.JobSubmit{Job: protocol.Job{ID: "another-leaders", Spec: testSpec(1), SpecBytes: 2 * one}, At: t0, MaxSpecBytes: 3*one + one/2}
	if _, err := srv.apply(context.Background(), protocol.CmdJobSubmitBounded, big); err != nil {
		t.Fatal(err)
	}
	// This leader's check does not know of it (as if it were still in
	// flight under the leader before): only the log's check stops the next.
	srv.specSizes.mu.Lock()
	srv.specSizes.pending = -2 * one
	srv.specSizes.mu.Unlock()
	_, err = srv.SubmitJob(context.Background(), "second", testSpec(50))
	if protocol.CodeOf(err) != protocol.CodeTooLarge || !bytes.Contains([]byte(err.Error()), []byte("--max-job-bytes")) {
		t.Fatalf("err = %v, want the too_large error naming --max-job-bytes", err)
	}
	if _, ok := srv.Store().JobByID("second"); ok {
		t.Fatal("the refused job is held")
	}
}

// TestJobBytesGate: in a cluster where one server does not announce
// FeatureJobBytes (an older release mid-upgrade), submits are plain and
// record no size, so every server applies them alike.
func TestJobBytesGate(t *testing.T) {
	c := startCluster(t, 3, nil)
	srv := c.members[c.leader(10*time.Second)].srv
	waitFor(t, 10*time.Second, "features announced", func() bool {
		resp, err := c.etcd.Get(context.Background(), protocol.FeaturePrefix, clientv3.WithPrefix())
		return err == nil && len(resp.Kvs) == 3
	})
	if j, err := srv.SubmitJob(context.Background(), "all-new", testSpec(2)); err != nil || j.SpecBytes == 0 {
		t.Fatalf("with every server announcing it: %+v, %v (want a recorded size)", j.SpecBytes, err)
	}
	old := c.members[(c.leader(time.Second)+1)%3].srv.ID()
	if _, err := c.etcd.Put(context.Background(), protocol.FeatureKey(old), protocol.FeatureRequeue); err != nil {
		t.Fatal(err)
	}
	srv.features.mu.Lock() // forget the cached answer (featureRecheck)
	clear(srv.features.checked)
	srv.features.mu.Unlock()
	if j, err := srv.SubmitJob(context.Background(), "mixed", testSpec(2)); err != nil || j.SpecBytes != 0 {
		t.Fatalf("in a mixed cluster: %d spec bytes, %v (want a plain submit)", j.SpecBytes, err)
	}
	for _, m := range c.members {
		waitFor(t, 5*time.Second, m.srv.ID()+" applying both", func() bool {
			a, ok1 := m.srv.Store().JobByID("all-new")
			_, ok2 := m.srv.Store().JobByID("mixed")
			return ok1 && ok2 && a.SpecBytes > 0
		})
	}
}
