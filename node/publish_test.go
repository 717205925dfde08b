package node

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// completionSeen is what the output held when a completion arrived.
type completionSeen struct {
	rep          protocol.CompleteReport
	finalVisible bool // the shard's final stats existed before the ack
	staged       bool // its staged stats existed
}

// TestAgentPublishesOnlyAcceptedAttempts: the executor writes a shard
// under its attempt's staging folder only; nothing is visible when the
// completion reaches the leader. The accepted attempt (shard 0) is then
// published (final stats of that attempt, staging gone); the attempt the
// leader refuses as stale (shard 1) is discarded: no final key, no
// staging left.
func TestAgentPublishesOnlyAcceptedAttempts(t *testing.T) {
	out := t.TempDir()
	exec := NewPipelineExecutor(PipelineConfig{Allow: tempAllow(), Models: &ModelResolver{CacheRoot: t.TempDir()}, Node: "n5", Logger: testLogger(t)})
	defer exec.Close()
	cfg := baseConfig(t, "n5", exec)
	spec := tinySpec(out, "a red fox", "a lighthouse")
	queue := []protocol.Assignment{assignment(spec, "j-5", 0, 1), assignment(spec, "j-5", 1, 3)}
	seen := make(chan completionSeen, 4)
	respond(t, cfg.NATS, protocol.SubjectLease, func([]byte) any {
		n := min(len(queue), 1)
		out := queue[:n]
		queue = queue[n:]
		return protocol.LeaseReply{Assignments: out}
	})
	respond(t, cfg.NATS, protocol.SubjectProgress, func([]byte) any { return protocol.Ack{Deadline: time.Now().Add(30 * time.Second)} })
	respond(t, cfg.NATS, protocol.SubjectComplete, func(data []byte) any {
		var rep protocol.CompleteReport
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Errorf("bad completion %s", data)
		}
		seen <- completionSeen{rep: rep, finalVisible: exists(out, storage.StatsKey("", rep.Shard)),
			staged: exists(out, storage.AttemptPrefix("", "j-5", rep.Shard, rep.Attempt)+"/"+storage.StatsKey("", rep.Shard))}
		if rep.Shard == 1 {
			return protocol.Ack{Error: protocol.Errorf(protocol.CodeStaleAttempt, "attempt %d is stale", rep.Attempt)}
		}
		return protocol.Ack{}
	})
	startAgent(t, cfg)
	for range 2 {
		var c completionSeen
		select {
		case c = <-seen:
		case <-time.After(60 * time.Second):
			t.Fatal("no completion report")
		}
		if c.rep.Result == nil || c.finalVisible || !c.staged {
			t.Fatalf("shard %d at completion: result %+v, final stats visible %v, staged %v (want staged only)",
				c.rep.Shard, c.rep.Result, c.finalVisible, c.staged)
		}
	}
	waitFor(t, 10*time.Second, "the staging folder to go", func() bool { return !exists(out, storage.AttemptsDir) })
	b, err := os.ReadFile(filepath.Join(out, storage.StatsKey("", 0)))
	var st storage.ShardStats
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil || st.Attempt != 1 || st.Job != "j-5" {
		t.Fatalf("published shard 0 stats %+v: %v", st, err)
	}
	if exists(out, storage.StatsKey("", 1)) || exists(out, storage.ShardDir("", 1)) {
		t.Fatal("the refused attempt of shard 1 was published")
	}
}

func exists(dir, key string) bool {
	_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key)))
	return err == nil
}

// respond answers subject with h's reply for the test's duration.
func respond(t *testing.T, nc *nats.Conn, subject string, h func([]byte) any) {
	t.Helper()
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		js, _ := json.Marshal(h(m.Data))
		_ = m.Respond(js)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
}
