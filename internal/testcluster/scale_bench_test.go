package testcluster_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/state"
	"github.com/sanafarm/sanafarm/internal/testcluster"
	"github.com/sanafarm/sanafarm/node"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// TestScaleBench is issue #16 point 4 (make bench-scale): a 10M-prompt
// JSONL input submitted as one job of 64-prompt shards on a real farm (3
// Raft voters with raft-boltdb over loopback TCP, embedded etcd and NATS,
// node agents) whose executor reports a files-layout shard without
// generating it. It prints "scale:" lines and ends with one figure per
// line: lease_p99_history_ratio, range_read_end_vs_start,
// raft_bytes_per_shard, rss_10m_prompts_mib (docs/scale.md). Sizes:
// SANAFARM_SCALE_PROMPTS (10,000,000), SANAFARM_SCALE_SHARDS (200,000,
// at most the job's), SANAFARM_SCALE_BUDGET (the shard run's wall-clock
// cap, 6m; fewer shards are then reported as such).
func TestScaleBench(t *testing.T) {
	if os.Getenv("SANAFARM_SCALEBENCH") == "" {
		t.Skip("scale benchmark: set SANAFARM_SCALEBENCH=1 (make bench-scale) to run it")
	}
	cfg := scaleConfig{prompts: envInt(t, "SANAFARM_SCALE_PROMPTS", 10_000_000),
		shards: envInt(t, "SANAFARM_SCALE_SHARDS", 200_000), budget: 6 * time.Minute}
	if v := os.Getenv("SANAFARM_SCALE_BUDGET"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SANAFARM_SCALE_BUDGET=%q: %v", v, err)
		}
		cfg.budget = d
	}
	var res scaleResult
	t.Run("job", func(t *testing.T) { res.job = benchScaleJob(t, cfg) })
	t.Run("history", func(t *testing.T) { res.before, res.after = benchLeaseHistory(t) })
	if t.Failed() || len(res.before) == 0 || res.job.done == 0 { // a subtest failed or was not run (-run)
		return
	}
	b, a := res.before, res.after
	fmt.Printf("scale: lease latency, one node leasing 1 shard, %d leases each, two clusters interleaved: no finished job p50 %s p99 %s; %d finished jobs p50 %s p99 %s (p50 ratio %.2f)\n",
		len(b), ms(b.q(0.5)), ms(b.q(0.99)), historyJobs, ms(a.q(0.5)), ms(a.q(0.99)), ratio(a.q(0.5), b.q(0.5)))
	j := res.job
	fmt.Printf("lease_p99_history_ratio %.2f\n", ratio(a.q(0.99), b.q(0.99)))
	fmt.Printf("range_read_end_vs_start %.2f\n", ratio(j.reads.end, j.reads.start))
	fmt.Printf("raft_bytes_per_shard %d\n", j.snapBytes/max(j.done, 1))
	fmt.Printf("rss_10m_prompts_mib %d\n", j.rssMiB)
}

type scaleConfig struct {
	prompts, shards int64
	budget          time.Duration
}

type scaleResult struct {
	job           jobResult
	before, after latency
}

// jobResult is what the 10M-prompt job's run measured.
type jobResult struct {
	reads     rangeReads
	done      int64 // shards completed
	snapBytes int64
	rssMiB    int64
}

func envInt(t *testing.T, name string, def int64) int64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(max(b, 1)) }

// benchScaleJob generates the input, submits it, measures range reads,
// runs shards through node agents, then measures memory and the Raft
// state's snapshot.
func benchScaleJob(t *testing.T, cfg scaleConfig) jobResult {
	var r jobResult
	dir := t.TempDir()
	t0 := time.Now()
	path := writeScaleInput(t, dir, cfg.prompts)
	st, _ := os.Stat(path)
	fmt.Printf("scale: input %d JSONL rows, %.0f MB, generated in %.1f s\n", cfg.prompts, float64(st.Size())/1e6, time.Since(t0).Seconds())
	exec := &scaleExecutor{}
	opts := testcluster.Options{Coordinators: 3, Nodes: scaleNodes, Slots: scaleSlots,
		Executor: func(int, string) node.Executor { return exec }}
	if os.Getenv("SANAFARM_SCALE_LOG") != "" { // warnings only: debug logs would cost more than the run
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	c := testcluster.Start(t, opts)
	waitFor(t, 30*time.Second, "nodes announced", func() bool { return len(c.Leader().Nodes()) == scaleNodes })
	rss0, _ := settledRSS(t)
	spec, index := scaleSpec(t, path, c.OutputDir+"/scale")
	t0 = time.Now()
	job, err := c.Client().SubmitJob(context.Background(), spec)
	if err != nil {
		t.Fatalf("submitting the %d-prompt job: %v", cfg.prompts, err)
	}
	fmt.Printf("scale: submit %d prompts: %.1f s (index pass %.1f s: %d entries, stride %d; API commit %s), %d shards\n",
		cfg.prompts, (index + time.Since(t0)).Seconds(), index.Seconds(), len(spec.Prompts.Index.Offsets),
		spec.Prompts.Index.Stride, ms(time.Since(t0)), job.Shards)
	r.reads = benchRangeReads(t, spec)
	coarse := benchRangeReads(t, coarseOnly(spec))
	fmt.Printf("scale: 64-row range read, fine index (stride %d, beside the input): start %s, end %s, worst %s; coarse entries only (stride %d): start %s, end %s (%.2fx), worst (a whole stride before an entry) %s\n",
		spec.Prompts.Index.Fine, ms(r.reads.start), ms(r.reads.end), ms(r.reads.worst), spec.Prompts.Index.Stride,
		ms(coarse.start), ms(coarse.end), ratio(coarse.end, coarse.start), ms(coarse.worst))
	r.done = runShards(t, c, exec, job, min(cfg.shards, int64(job.Shards)), cfg.budget)
	rss, hwm := settledRSS(t)
	r.rssMiB = rss
	fmt.Printf("scale: process resident memory (3 voters + etcd + NATS + %d agents in one process) after %d shards of the %d-prompt job: VmRSS %d MiB (%d MiB before submit), VmHWM %d MiB\n",
		scaleNodes, r.done, cfg.prompts, rss, rss0, hwm)
	r.snapBytes = benchSnapshot(t, c.Leader().Store(), r.done)
	return r
}

// Node agents of the shard run: enough leases in flight to keep the
// voters busy on 2 cores.
const scaleNodes, scaleSlots = 8, 8

// settledRSS returns VmRSS after a GC that returns freed memory to the
// OS, and VmHWM, in MiB.
func settledRSS(t *testing.T) (rss, hwm int64) {
	runtime.GC()
	debug.FreeOSMemory()
	return procStatus(t)
}

// runShards waits until target shards of the job are done or budget has
// passed, then stops the executor (it holds its leases from then on) so
// that the snapshot is measured on a quiet cluster. It returns the shards
// done.
func runShards(t *testing.T, c *testcluster.Cluster, exec *scaleExecutor, job protocol.Job, target int64, budget time.Duration) int64 {
	start := time.Now()
	done := func() int64 { j, _ := c.Leader().Store().JobByID(job.ID); return int64(j.ShardsDone) }
	last, seen, moved := start, int64(0), start
	for done() < target && time.Since(start) < budget {
		time.Sleep(100 * time.Millisecond)
		if j, _ := c.Leader().Store().JobByID(job.ID); j.State.Terminal() && j.State != protocol.JobDone {
			fmt.Printf("scale: JOB %s at %d shards done: %s\n", strings.ToUpper(string(j.State)), j.ShardsDone, j.Error)
			break
		}
		if n := done(); n != seen {
			seen, moved = n, time.Now()
		} else if time.Since(moved) > 20*time.Second {
			dumpStall(t, n)
			moved = time.Now()
		}
		if time.Since(last) >= 30*time.Second {
			last = time.Now()
			fmt.Printf("scale: ... %d shards done after %.0f s\n", done(), time.Since(start).Seconds())
		}
	}
	exec.stop.Store(true)
	secs := time.Since(start).Seconds()
	n := done()
	rate := float64(n) / secs
	fmt.Printf("scale: %d shards (%d images) done in %.1f s = %.0f shards/s (%d agents x %d slots)\n",
		n, n*protocol.DefaultShardSize, secs, rate, scaleNodes, scaleSlots)
	if n < target {
		fmt.Printf("scale: EXTRAPOLATED: %d shards would take %.0f s at this rate (budget %v reached)\n",
			target, float64(target)/rate, budget)
	}
	return n
}

// dumpStall writes every goroutine's stack to a file when no shard
// finished for 20 s, so that a stall can be read after the run.
func dumpStall(t *testing.T, done int64) {
	f, err := os.CreateTemp("", "sanafarm-scale-stall-*.txt")
	if err != nil {
		t.Logf("stall dump: %v", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("goroutine").WriteTo(f, 2); err != nil {
		t.Logf("stall dump %s: %v", f.Name(), err)
	}
	fmt.Printf("scale: STALL: no shard finished for 20 s at %d done; goroutines in %s\n", done, f.Name())
}

// benchSnapshot times the leader's snapshot (what Raft persists) and a
// restore from it, and returns its size in bytes.
func benchSnapshot(t *testing.T, st *state.Store, done int64) int64 {
	var buf bytes.Buffer
	t0 := time.Now()
	n, err := st.Snapshot().WriteTo(&buf)
	if err != nil {
		t.Fatalf("writing snapshot: %v", err)
	}
	write := time.Since(t0)
	t0 = time.Now()
	if _, err := state.ReadSnapshot(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatalf("restoring snapshot: %v", err)
	}
	restore := time.Since(t0)
	fmt.Printf("scale: Raft state snapshot %.1f MB for %d completed shards = %d bytes/shard; snapshot %s, restore %s\n",
		float64(n)/1e6, done, n/max(done, 1), ms(write), ms(restore))
	return n
}

// scaleExecutor completes a shard at once and reports what the files
// layout reports (protocol.ShardInfo.Objects): each sample's .png, .txt
// and .json, the shard's Parquet and its stats, so the Raft state holds
// what a real run's would. After stop it holds its leases until the
// node stops.
type scaleExecutor struct {
	stop atomic.Bool
}

func (e *scaleExecutor) Execute(ctx context.Context, a protocol.Assignment, progress func(done int)) (protocol.ShardInfo, error) {
	if e.stop.Load() {
		<-ctx.Done()
		return protocol.ShardInfo{}, ctx.Err()
	}
	tk := a.Task
	dir := storage.ShardDir("", tk.Shard)
	objects := make([]string, 0, 3*(tk.End-tk.Start)+2)
	for i := tk.Start; i < tk.End; i++ {
		k := dir + "/" + storage.SampleKey(i)
		objects = append(objects, k+".png", k+".txt", k+".json")
	}
	objects = append(objects, storage.ShardParquetKey("", tk.Shard), storage.StatsKey("", tk.Shard))
	n := int(tk.End - tk.Start)
	progress(n)
	return protocol.ShardInfo{Images: n, Bytes: int64(n) * 400_000, Objects: objects, Seconds: 0.001}, nil
}
