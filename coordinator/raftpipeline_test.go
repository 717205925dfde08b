package coordinator

import (
	"errors"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestRaftNotPipelined: the Raft transport replicates without raft's
// pipeline, which deadlocks once a follower answers an append with a
// failure (hashicorp/raft#612: the leader never replicates to it again,
// and its Shutdown hangs). TestLeaderDiskFull exercises such a follower
// catching up.
func TestRaftNotPipelined(t *testing.T) {
	s, err := New(Config{ID: "c1", DataDir: t.TempDir(), RaftBind: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.httpLn.Close()
	tr := s.raftTransport(hclog.NewNullLogger()) // closes raftLn with it
	defer tr.Close()
	if _, err := tr.AppendEntriesPipeline("c2", "127.0.0.1:1"); !errors.Is(err, raft.ErrPipelineReplicationNotSupported) {
		t.Fatalf("AppendEntriesPipeline = %v, want raft.ErrPipelineReplicationNotSupported", err)
	}
}
