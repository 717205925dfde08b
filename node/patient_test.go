package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/backoff"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// flakyPutter fails its first fails Puts with err, reading part of the
// content first (as an upload cut off midway does), then stores it.
type flakyPutter struct {
	fails int
	err   error
	calls atomic.Int32
	got   []byte
}

func (f *flakyPutter) Put(_ context.Context, _ string, r io.Reader) (int64, error) {
	if int(f.calls.Add(1)) <= f.fails {
		_, _ = io.CopyN(io.Discard, r, 3)
		return 0, f.err
	}
	b, err := io.ReadAll(r)
	f.got = b
	return int64(len(b)), err
}

// TestPatientPutter: a Put that fails for a transient reason is tried
// again with the content rewound (a seekable reader, or a limited window
// of a file as the webdataset writer sends), until it lands or patience
// runs out; other errors and streams fail at once.
func TestPatientPutter(t *testing.T) {
	down := fmt.Errorf("s3 put: endpoint failing after 6 attempts: %w: %w", storage.ErrUnavailable,
		&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")})
	denied := errors.New("access denied")
	content := "0123456789abcdef"
	f, err := os.CreateTemp(t.TempDir(), "shard")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("xx" + content + "yy"); err != nil {
		t.Fatal(err)
	}
	window := func() io.Reader { // the content, at offset 2 of the file
		if _, err := f.Seek(2, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		return io.LimitReader(f, int64(len(content)))
	}
	for _, c := range []struct {
		name      string
		fails     int
		err       error
		r         func() io.Reader
		patience  time.Duration
		wantCalls int
		wantErr   string
	}{
		{"lands after an outage", 3, down, func() io.Reader { return bytes.NewReader([]byte(content)) }, time.Minute, 4, ""},
		{"file window rewound", 2, down, window, time.Minute, 3, ""},
		{"not transient", 3, denied, func() io.Reader { return bytes.NewReader([]byte(content)) }, time.Minute, 1, "access denied"},
		{"a stream is not retried", 3, down, func() io.Reader { return io.MultiReader(strings.NewReader(content)) }, time.Minute, 1, "refused"},
		{"patience runs out", 1000, down, func() io.Reader { return bytes.NewReader([]byte(content)) }, 50 * time.Millisecond, -1, "stayed unavailable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fp := &flakyPutter{fails: c.fails, err: c.err}
			p := patientPutter{Putter: fp, patience: &patience{d: c.patience, log: slog.New(slog.DiscardHandler),
				policy: backoff.Policy{Base: 5 * time.Millisecond, Max: 10 * time.Millisecond}}}
			n, err := p.Put(context.Background(), "k", c.r())
			if c.wantErr == "" {
				if err != nil || string(fp.got) != content || n != int64(len(content)) {
					t.Fatalf("Put: %v, stored %q (%d)", err, fp.got, n)
				}
			} else if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("Put: %v, want an error with %q", err, c.wantErr)
			}
			if c.wantCalls >= 0 && int(fp.calls.Load()) != c.wantCalls {
				t.Errorf("%d tries, want %d", fp.calls.Load(), c.wantCalls)
			}
		})
	}
	t.Run("one window per shard", func(t *testing.T) {
		pat := &patience{d: 100 * time.Millisecond, log: slog.New(slog.DiscardHandler),
			policy: backoff.Policy{Base: 20 * time.Millisecond, Max: 20 * time.Millisecond}}
		first := &flakyPutter{fails: 3, err: down} // lands after ≈ 60 ms of the window
		if _, err := (patientPutter{first, pat}).Put(context.Background(), "a", bytes.NewReader([]byte(content))); err != nil {
			t.Fatal(err)
		}
		second := &flakyPutter{fails: 1000, err: down}
		_, err := (patientPutter{second, pat}).Put(context.Background(), "b", bytes.NewReader([]byte(content)))
		if err == nil || second.calls.Load() > 3 {
			t.Fatalf("second operation: %v after %d tries; want it to give up with the shard's window", err, second.calls.Load())
		}
	})
	t.Run("task ends", func(t *testing.T) {
		fp := &flakyPutter{fails: 1000, err: down}
		p := patientPutter{Putter: fp, patience: &patience{d: time.Hour, log: slog.New(slog.DiscardHandler),
			policy: backoff.Policy{Base: time.Hour}}}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := p.Put(ctx, "k", bytes.NewReader([]byte(content))); err == nil || fp.calls.Load() != 1 {
			t.Fatalf("Put after the task ended: %v, %d tries", err, fp.calls.Load())
		}
	})
}

// flakyPrompts fails its first fails reads with err.
type flakyPrompts struct {
	fails int
	err   error
	calls atomic.Int32
}

func (f *flakyPrompts) ReadRows(_ context.Context, start, end int64) ([]storage.PromptRow, error) {
	if int(f.calls.Add(1)) <= f.fails {
		return nil, f.err
	}
	rows := make([]storage.PromptRow, 0, end-start)
	for i := start; i < end; i++ {
		rows = append(rows, storage.PromptRow{Prompt: fmt.Sprint("prompt ", i)})
	}
	return rows, nil
}

// TestShardInputsPatience: a task's prompts are read again through an
// outage of the store that holds them; a bad prompt file fails at once.
func TestShardInputsPatience(t *testing.T) {
	down := fmt.Errorf("s3 get: endpoint failing after 6 attempts: %w: %w", storage.ErrUnavailable,
		&net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")})
	for _, c := range []struct {
		name      string
		fails     int
		err       error
		wantErr   bool
		wantCalls int32
	}{
		{"outage", 2, down, false, 3},
		{"bad file", 2, errors.New("prompts.jsonl line 3: not JSON"), true, 1},
		{"truncated file", 2, fmt.Errorf("prompts.jsonl: %w", io.ErrUnexpectedEOF), true, 1},
		{"a raw network error", 2, &net.OpError{Op: "read", Net: "tcp", Err: errors.New("reset")}, true, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := &flakyPrompts{fails: c.fails, err: c.err}
			e := NewPipelineExecutor(PipelineConfig{Allow: tempAllow(), Models: &ModelResolver{CacheRoot: t.TempDir()},
				OpenPrompts: func(context.Context, protocol.PromptSource) (PromptSource, error) { return src, nil }})
			defer e.Close()
			e.retryBase = time.Millisecond
			a := assignment(tinySpec(t.TempDir(), "x"), "j-7", 0, 1)
			rows, _, err := e.shardInputs(context.Background(), a)
			if (err != nil) != c.wantErr || src.calls.Load() != c.wantCalls {
				t.Fatalf("shardInputs: %v after %d reads; want error %v after %d", err, src.calls.Load(), c.wantErr, c.wantCalls)
			}
			if !c.wantErr && int64(len(rows)) != a.Task.End-a.Task.Start {
				t.Fatalf("%d rows for samples [%d, %d)", len(rows), a.Task.Start, a.Task.End)
			}
		})
	}
}

// longPrompts serves rows that all share one long prompt (no memory per
// row beyond the struct).
type longPrompts struct{ prompt string }

func (l longPrompts) ReadRows(_ context.Context, start, end int64) ([]storage.PromptRow, error) {
	rows := make([]storage.PromptRow, end-start)
	for i := range rows {
		rows[i].Prompt = l.prompt
	}
	return rows, nil
}

// TestShardRefusedWhenStatsCannotFit: a shard whose prompts alone would
// take its stats past storage.MaxStatsBytes fails while its inputs are
// read, before any image, with the reason (not after its images, when the
// stats are written).
func TestShardRefusedWhenStatsCannotFit(t *testing.T) {
	long := strings.Repeat("x", 60<<10)
	e := NewPipelineExecutor(PipelineConfig{Allow: tempAllow(), Models: &ModelResolver{CacheRoot: t.TempDir()},
		OpenPrompts: func(context.Context, protocol.PromptSource) (PromptSource, error) { return longPrompts{long}, nil }})
	defer e.Close()
	spec := tinySpec(t.TempDir(), "x")
	spec.Prompts = protocol.PromptSource{URL: filepath.Join(t.TempDir(), "long.txt"), Rows: 4600}
	spec.ImagesPerPrompt, spec.ShardSize = 1, 4600 // 4600 × 60 KiB > 256 MiB
	_, _, err := e.shardInputs(context.Background(), assignment(spec, "j-big", 0, 1))
	if err == nil || !strings.Contains(err.Error(), "fewer images per shard") {
		t.Fatalf("a shard of 4600 prompts of 60 KiB: %v, want refused before its images", err)
	}
	spec.ShardSize = 64
	if _, _, err := e.shardInputs(context.Background(), assignment(spec, "j-big", 0, 1)); err != nil {
		t.Fatalf("a shard of 64 such prompts: %v", err)
	}
}
