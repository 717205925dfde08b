package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/diskroom"
	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/hub"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// failingExecutor fails every task with err.
type failingExecutor struct{ err error }

func (f failingExecutor) Execute(context.Context, protocol.Assignment, func(int)) (protocol.ShardInfo, error) {
	return protocol.ShardInfo{}, f.err
}

// TestOwnFaultReported: a task that fails through the node's own doing —
// a download its bound or disk refuses, a cache write that fails, a
// location outside its allow-lists — is reported with NodeFault, so the
// leader strikes the node without using up the shard's attempts; any
// other failure is reported as before.
func TestOwnFaultReported(t *testing.T) {
	outside := protocol.Access{Who: "node"}.CheckWrite("/data/out") // no roots: refused
	refused := diskroom.Check("repo org/big", t.TempDir(), 2<<30, 1<<30)
	for _, c := range []struct {
		name string
		err  error
		own  bool
	}{
		{"over --max-model-bytes", fmt.Errorf("resolving model: downloading org/big@main: %w", refused), true},
		{"cache disk write", fmt.Errorf("downloading: storing blob: %w: %w", hub.ErrDisk, errors.New("no space left on device")), true},
		{"output outside --allow-write", fmt.Errorf("shard 0: %w", outside), true},
		{"spool disk full", fmt.Errorf("writing shard 00003: spooling the upload: %w: %w", storage.ErrSpool, syscall.ENOSPC), true},
		{"output disk full", fmt.Errorf("writing 00000003.png: %w", syscall.ENOSPC), false}, // a shared output fails everywhere
		{"bad prompt file", errors.New("prompts.url: line 3: not UTF-8"), false},
		{"model does not load", errors.New("transformer: tensor blocks.0.attn.qkv missing"), false},
		{"hub integrity", fmt.Errorf("downloading: %w", hub.ErrIntegrity), false},
		{"not cached, node offline", fmt.Errorf("model org/x is not cached and the node is offline: %w (%w)", hub.ErrNotFound, hub.ErrOffline), true},
		{"not on the Hub", fmt.Errorf("downloading org/x@main: %w", hub.ErrNotFound), false},
		{"GPU memory taken", fmt.Errorf("denoising step 3: cuda: alloc bf16[2 2240 32 32]: allocating 9175040 bytes: %w: %w",
			kernels.ErrOutOfMemory, errors.New("CUDA_ERROR_OUT_OF_MEMORY")), true},
		{"GPU fault", errors.New("denoising step 3: cuda: launch mixffn: CUDA_ERROR_ILLEGAL_ADDRESS"), false},
		{"cached model damaged", fmt.Errorf("%w (transformer/w.safetensors under /c/m; removed, they download again): %w",
			ErrCacheCorrupt, errors.New("loading /c/m: safetensors header")), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := ownFault(c.err); got != c.own {
				t.Fatalf("ownFault(%v) = %v, want %v", c.err, got, c.own)
			}
			cfg := baseConfig(t, "n-own", failingExecutor{c.err})
			leader := newFakeLeader(t, cfg.NATS, assignment(tinySpec(t.TempDir(), "a"), "j-own", 0, 1))
			startAgent(t, cfg)
			select {
			case rep := <-leader.completions:
				if rep.Result != nil || rep.Error != c.err.Error() || rep.NodeFault != c.own {
					t.Fatalf("completion %+v, want failed with %q, node fault %v", rep, c.err, c.own)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("no completion")
			}
		})
	}
}

// TestExecutorSpoolFailureIsOwnFault: a webdataset shard on a node whose
// temporary folder is gone (as good as a full disk) fails through the real
// executor with an error ownFault recognises.
func TestExecutorSpoolFailureIsOwnFault(t *testing.T) {
	out, cache, tmp := t.TempDir(), t.TempDir(), t.TempDir()
	e := NewPipelineExecutor(PipelineConfig{Allow: testAllow(out), Models: &ModelResolver{CacheRoot: cache}, Node: "n-spool", Logger: testLogger(t)})
	defer e.Close()
	spec := tinySpec(out, "a red fox")
	spec.Output.Format = storage.FormatWebDataset
	t.Setenv("TMPDIR", filepath.Join(tmp, "gone"))
	_, err := e.Execute(context.Background(), assignment(spec, "j-spool", 0, 1), func(int) {})
	if err == nil || !ownFault(err) {
		t.Fatalf("Execute = %v, want a spool failure that is the node's own", err)
	}
}

// TestOfflineResolveIsOwnFault: a model an offline node does not hold is
// its own fault (a node on the network may fetch it), through the real
// resolver's wrapping.
func TestOfflineResolveIsOwnFault(t *testing.T) {
	r := &ModelResolver{CacheRoot: t.TempDir(), Hub: &hub.Config{CacheDir: t.TempDir(), Offline: true}}
	_, err := r.Resolve(t.Context(), protocol.JobSpec{Model: "org/absent", Revision: "main"})
	if err == nil || !ownFault(err) {
		t.Fatalf("Resolve = %v, want an offline refusal that is the node's own", err)
	}
}

// gatedExecutor finishes a shard once its gate closes.
type gatedExecutor struct{ gate chan struct{} }

func (g gatedExecutor) Execute(ctx context.Context, a protocol.Assignment, _ func(int)) (protocol.ShardInfo, error) {
	select {
	case <-g.gate:
		return protocol.ShardInfo{Images: int(a.Task.End - a.Task.Start)}, nil
	case <-ctx.Done():
		return protocol.ShardInfo{}, context.Cause(ctx)
	}
}

// TestGPUFaultStopsNode: a shard that fails with a GPU fault (a CUDA
// error that broke the context: every later op would fail too) is
// reported as the node's own fault; the node leases nothing more, lets
// the shard on its other GPU finish, and Run returns the fault, so that
// the service manager restarts the process with a fresh context.
func TestGPUFaultStopsNode(t *testing.T) {
	fault := fmt.Errorf("denoising step 2: cuda: sync: %w: %w", kernels.ErrDeviceFault, errors.New("CUDA_ERROR_ILLEGAL_ADDRESS"))
	gate := make(chan struct{})
	cfg := baseConfig(t, "n-gpu", nil)
	cfg.Executors = []Executor{failingExecutor{fault}, gatedExecutor{gate}}
	spec := tinySpec(t.TempDir(), "a", "b", "c")
	leader := newFakeLeader(t, cfg.NATS, assignment(spec, "j-gpu", 0, 1), assignment(spec, "j-gpu", 1, 1), assignment(spec, "j-gpu", 2, 1))
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	next := func() protocol.CompleteReport {
		t.Helper()
		select {
		case rep := <-leader.completions:
			return rep
		case <-time.After(30 * time.Second):
			t.Fatal("no completion")
		}
		return protocol.CompleteReport{}
	}
	if rep := next(); rep.Shard != 0 || rep.Result != nil || !rep.NodeFault {
		t.Fatalf("faulted shard reported %+v, want shard 0 failed as the node's fault", rep)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned %v while another shard was still running", err)
	case <-time.After(300 * time.Millisecond): // several poll intervals: a lease would have come
	}
	close(gate)
	if rep := next(); rep.Shard != 1 || rep.Result == nil {
		t.Fatalf("the other GPU's shard reported %+v, want it finished", rep)
	}
	select {
	case err := <-done:
		if !errors.Is(err, kernels.ErrDeviceFault) {
			t.Fatalf("Run = %v, want the GPU fault", err)
		}
		if info := a.Info(); !info.Draining || !strings.Contains(info.DrainReason, "CUDA_ERROR_ILLEGAL_ADDRESS") {
			t.Errorf("announced draining %v, reason %q: want why it restarts", info.Draining, info.DrainReason)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the GPU fault")
	}
	leader.mu.Lock()
	defer leader.mu.Unlock()
	if len(leader.queue) != 1 {
		t.Errorf("%d shards left unleased, want 1: the node leased after its GPU fault", len(leader.queue))
	}
}
