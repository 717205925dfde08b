package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func nodeInfo(t *testing.T, cli *clientv3.Client, id string) (protocol.NodeInfo, bool) {
	t.Helper()
	resp, err := cli.Get(context.Background(), protocol.NodeKey(id))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return protocol.NodeInfo{}, false
	}
	var info protocol.NodeInfo
	if err := json.Unmarshal(resp.Kvs[0].Value, &info); err != nil {
		t.Fatal(err)
	}
	return info, true
}

// tinySpec is a sana-tiny job small enough for tests.
func tinySpec(out string, prompts ...string) protocol.JobSpec {
	return protocol.JobSpec{Model: sana.TinyPreset, Width: 128, Height: 128, Steps: 2, Seed: 11, ImagesPerPrompt: 2,
		Prompts: protocol.PromptSource{Inline: prompts}, Output: protocol.OutputSpec{URL: out}, ShardSize: 3}
}

type testNode struct {
	once   sync.Once
	agent  *Agent
	cancel context.CancelFunc
	done   chan error
}

func startAgent(t *testing.T, cfg Config) *testNode {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &testNode{agent: a, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- a.Run(ctx) }()
	t.Cleanup(func() { n.stop(t) })
	return n
}

func (n *testNode) stop(t *testing.T) {
	t.Helper()
	n.once.Do(func() {
		n.cancel()
		select {
		case err := <-n.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	})
}

func baseConfig(t *testing.T, id string, exec Executor) Config {
	nc := startNATS(t)
	return Config{ID: id, NATS: nc, Etcd: startEtcd(t), Executor: exec, LeaseTTL: 2 * time.Second,
		PollInterval: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, RequestTimeout: time.Second,
		ProgressInterval: 200 * time.Millisecond, ProgressMinGap: 10 * time.Millisecond, Logger: testLogger(t),
		Version: "test", GPUs: NoGPUs{}}
}

// TestAgentRunsTasksOnTinyPipeline is the node end to end: announce,
// lease two shards, run sana-tiny, report progress and completion (the
// first one through a leader failover), write the shards, deregister.
func TestAgentRunsTasksOnTinyPipeline(t *testing.T) {
	cache, out := t.TempDir(), t.TempDir()
	exec := NewPipelineExecutor(PipelineConfig{Allow: tempAllow(), Models: &ModelResolver{CacheRoot: cache}, Node: "n1", Logger: testLogger(t)})
	defer exec.Close()
	cfg := baseConfig(t, "n1", exec)
	spec := tinySpec(out, "a red fox", "a lighthouse")
	leader := newFakeLeader(t, cfg.NATS, assignment(spec, "j-1", 0, 1), assignment(spec, "j-1", 1, 2))
	leader.failFirst = 1
	n := startAgent(t, cfg)

	waitFor(t, 10*time.Second, "the node announcement", func() bool {
		info, ok := nodeInfo(t, cfg.Etcd, "n1")
		return ok && info.Slots == 1 && info.Backend == "cpu" && info.Version == "test"
	})
	got := map[int]protocol.CompleteReport{}
	for range 2 {
		c := leader.waitCompletion(t, 60*time.Second)
		got[c.Shard] = c
	}
	for shard, images := range map[int]int{0: 3, 1: 1} {
		c := got[shard]
		if c.Error != "" || c.Result == nil || c.Result.Images != images || c.Node != "n1" || c.Attempt != shard+1 {
			t.Fatalf("shard %d completion %+v", shard, c)
		}
		waitFor(t, 10*time.Second, "shard published (stats last)", func() bool { // published after the ack
			_, err := os.Stat(filepath.Join(out, storage.StatsKey("", shard)))
			return err == nil
		})
	}
	if len(leader.progressReports()) == 0 {
		t.Error("no progress reports")
	}
	waitFor(t, 5*time.Second, "resident model announced", func() bool {
		info, _ := nodeInfo(t, cfg.Etcd, "n1")
		return len(info.Models) == 1 && info.Models[0] == sana.TinyPreset
	})
	checkSamplesMatchGenerate(t, filepath.Join(cache, TinyDirName), out, spec, []int64{1, 3})
	n.stop(t)
	if _, ok := nodeInfo(t, cfg.Etcd, "n1"); ok {
		t.Error("node key still present after Run returned")
	}
}

func mustLocal(t *testing.T, dir string) *storage.Local {
	t.Helper()
	s, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// checkSamplesMatchGenerate compares the written samples with what
// `sanafarm generate` computes for the same prompts, seed and settings
// (its request: preset defaults, image i of prompt-major samples).
func checkSamplesMatchGenerate(t *testing.T, tinyDir, out string, spec protocol.JobSpec, samples []int64) {
	t.Helper()
	p, err := sana.Load(context.Background(), os.DirFS(tinyDir), sana.Options{Tokenizer: sana.LoadTokenizer, Origin: sana.TinyPreset})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ref, err := p.Generate(context.Background(), sana.Request{Prompts: spec.Prompts.Inline, Width: 128, Height: 128,
		Steps: 2, Guidance: 4.5, Seed: spec.Seed, ImagesPerPrompt: spec.ImagesPerPrompt, BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range samples {
		shard := int(i) / spec.EffectiveShardSize()
		b, err := os.ReadFile(filepath.Join(out, storage.ShardDir("", shard), storage.SampleKey(i)+".png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(nrgbaPix(img), ref.Images[i].Image.Pix) {
			t.Errorf("sample %d: pixels differ from sanafarm generate's image %d", i, i)
		}
		text, err := sana.ReadPNGText(bytes.NewReader(b))
		seed := fmt.Sprintf(`"sample_seed":%d`, ref.Images[i].Params.SampleSeed) // the image's own noise seed
		if err != nil || !strings.Contains(text["parameters"], `"seed":11`) || !strings.Contains(text["parameters"], ref.Images[i].Prompt) ||
			!strings.Contains(text["parameters"], seed) || !bytes.Contains(b, []byte("tEXtparameters\x00")) {
			t.Errorf("sample %d parameters %q: %v", i, text["parameters"], err)
		}
		// The stats (and the shard's Parquet beside them) carry the settings.
		st, err := storage.ReadStats(context.Background(), mustLocal(t, out), "", shard)
		if err != nil || st.Samples[int(i-st.Start)].Steps != 2 || st.Samples[int(i-st.Start)].Sampler == "" ||
			st.Samples[int(i-st.Start)].Seed != ref.Images[i].Params.SampleSeed || st.Count != int(st.End-st.Start) {
			t.Errorf("sample %d stats %+v: %v", i, st, err)
		}
		if _, err := os.Stat(filepath.Join(out, storage.ShardParquetKey("", shard))); err != nil {
			t.Errorf("shard %d parquet: %v", shard, err)
		}
		meta, err := os.ReadFile(filepath.Join(out, storage.ShardDir("", shard), storage.SampleKey(i)+".json"))
		if err != nil || !strings.Contains(string(meta), `"node": "n1"`) {
			t.Errorf("sample %d provenance %s: %v", i, meta, err)
		}
	}
}

// TestAgentStaleAttemptAborts: a fenced progress reply aborts the shard;
// no completion is sent and the slot takes new work.
func TestAgentStaleAttemptAborts(t *testing.T) {
	out := t.TempDir()
	exec := NewPipelineExecutor(PipelineConfig{Allow: tempAllow(), Models: &ModelResolver{CacheRoot: t.TempDir()}, Node: "n2"})
	defer exec.Close()
	cfg := baseConfig(t, "n2", exec)
	spec := tinySpec(out, "a red fox", "a lighthouse", "a boat", "a tree")
	spec.ShardSize = 8
	leader := newFakeLeader(t, cfg.NATS, assignment(spec, "j-2", 0, 3))
	leader.stale = true
	startAgent(t, cfg)
	waitFor(t, 30*time.Second, "a progress report", func() bool { return len(leader.progressReports()) > 0 })
	calls := leader.leaseCount()
	waitFor(t, 30*time.Second, "the slot to lease again", func() bool { return leader.leaseCount() > calls })
	select {
	case c := <-leader.completions:
		t.Fatalf("completion sent for a stale attempt: %+v", c)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := os.Stat(filepath.Join(out, storage.StatsKey("", 0))); err == nil {
		t.Error("an aborted shard wrote its stats")
	}
}

// blockingExecutor waits for its context (a drain test's stand-in for a
// shard that cannot finish within the grace period).
type blockingExecutor struct{ started chan struct{} }

func (b *blockingExecutor) Execute(ctx context.Context, _ protocol.Assignment, progress func(int)) (protocol.ShardInfo, error) {
	progress(0)
	close(b.started)
	<-ctx.Done()
	return protocol.ShardInfo{}, ctx.Err()
}

// TestAgentDrainHandsBack: on cancel the node marks itself draining, waits
// the grace period, then hands the shard back with "draining".
func TestAgentDrainHandsBack(t *testing.T) {
	exec := &blockingExecutor{started: make(chan struct{})}
	cfg := baseConfig(t, "n3", exec)
	cfg.DrainTimeout = 300 * time.Millisecond
	spec := tinySpec(t.TempDir(), "x")
	leader := newFakeLeader(t, cfg.NATS, assignment(spec, "j-3", 0, 1))
	n := startAgent(t, cfg)
	<-exec.started
	n.cancel()
	waitFor(t, 5*time.Second, "draining announced", func() bool {
		info, ok := nodeInfo(t, cfg.Etcd, "n3")
		return !ok || info.Draining
	})
	c := leader.waitCompletion(t, 10*time.Second)
	if c.Error != "draining" || c.Result != nil || c.Attempt != 1 {
		t.Fatalf("completion %+v, want a draining failure", c)
	}
	n.stop(t)
	if _, ok := nodeInfo(t, cfg.Etcd, "n3"); ok {
		t.Error("node key still present after drain")
	}
}

// TestAgentDrainFinishesShard: a shard that finishes within the grace
// period completes normally.
func TestAgentDrainFinishesShard(t *testing.T) {
	exec := NewPipelineExecutor(PipelineConfig{Allow: tempAllow(), Models: &ModelResolver{CacheRoot: t.TempDir()}, Node: "n4"})
	defer exec.Close()
	cfg := baseConfig(t, "n4", exec)
	spec := tinySpec(t.TempDir(), "a red fox")
	leader := newFakeLeader(t, cfg.NATS, assignment(spec, "j-4", 0, 1))
	n := startAgent(t, cfg)
	waitFor(t, 30*time.Second, "the shard to start", func() bool { return len(leader.progressReports()) > 0 })
	n.cancel()
	c := leader.waitCompletion(t, 60*time.Second)
	if c.Error != "" || c.Result == nil || c.Result.Images != 2 {
		t.Fatalf("completion %+v, want success", c)
	}
}

// TestAnnouncerReregisters: when the lease is lost (revoked behind the
// node's back) the key comes back under a new lease.
func TestAnnouncerReregisters(t *testing.T) {
	cli := startEtcd(t)
	ann := NewEtcdAnnouncer(cli, 2*time.Second, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ann.Announce(ctx, func() protocol.NodeInfo { return protocol.NodeInfo{ID: "n5", Slots: 1} }, nil)
	}()
	var lease clientv3.LeaseID
	waitFor(t, 5*time.Second, "announcement", func() bool {
		resp, err := cli.Get(ctx, protocol.NodeKey("n5"))
		if err == nil && len(resp.Kvs) == 1 {
			lease = clientv3.LeaseID(resp.Kvs[0].Lease)
		}
		return lease != 0
	})
	if _, err := cli.Revoke(ctx, lease); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "re-registration under a new lease", func() bool {
		resp, err := cli.Get(ctx, protocol.NodeKey("n5"))
		return err == nil && len(resp.Kvs) == 1 && clientv3.LeaseID(resp.Kvs[0].Lease) != lease
	})
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	resp, err := cli.Get(context.Background(), protocol.NodeKey("n5"))
	if err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("key after shutdown: %v %v", resp, err)
	}
}

// nrgbaPix returns an image's pixels as non-premultiplied RGBA bytes.
func nrgbaPix(img image.Image) []byte {
	b := img.Bounds()
	out := image.NewNRGBA(b)
	draw.Draw(out, b, img, b.Min, draw.Src)
	return out.Pix
}

// gateExecutor runs until release is closed.
type gateExecutor struct{ started, release chan struct{} }

func (g *gateExecutor) Execute(ctx context.Context, _ protocol.Assignment, progress func(int)) (protocol.ShardInfo, error) {
	progress(0)
	close(g.started)
	select {
	case <-g.release:
		return protocol.ShardInfo{Images: 1}, nil
	case <-ctx.Done():
		return protocol.ShardInfo{}, ctx.Err()
	}
}

// TestAgentListsHolds: every lease request lists the attempts the node
// runs, so the leader can tell a grant whose reply was lost
// (coordinator/grants.go); a finished attempt is no longer listed.
func TestAgentListsHolds(t *testing.T) {
	exec := &gateExecutor{started: make(chan struct{}), release: make(chan struct{})}
	cfg := baseConfig(t, "n5", exec)
	cfg.Slots = 2
	asg := assignment(tinySpec(t.TempDir(), "a", "b", "c", "d", "e"), "j-5", 3, 2) // samples [9, 10)
	leader := newFakeLeader(t, cfg.NATS, asg)
	startAgent(t, cfg)
	<-exec.started
	req := leader.nextLease(t)
	want := protocol.TaskAttempt{TaskKey: asg.Task.TaskKey, Attempt: 2}
	if req.Seq == 0 || len(req.Holds) != 1 || req.Holds[0] != want {
		t.Fatalf("lease request while running: seq %d holds %+v, want [%+v]", req.Seq, req.Holds, want)
	}
	if next := leader.nextLease(t); req.Seq < 2 || next.Seq <= req.Seq {
		t.Fatalf("lease request numbers %d then %d: want them counting from 1", req.Seq, next.Seq)
	}
	close(exec.release)
	leader.waitCompletion(t, 10*time.Second)
	waitFor(t, 10*time.Second, "the finished attempt dropped from the holds", func() bool {
		req := leader.nextLease(t)
		return req.Seq > 0 && len(req.Holds) == 0
	})
}
