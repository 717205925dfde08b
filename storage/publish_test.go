package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/storage"
)

func TestStoreCopy(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) { testCopy(t, open(t)) })
	}
}

func testCopy(t *testing.T, s storage.Store) {
	ctx := context.Background()
	data := []byte("staged bytes")
	put(t, s, "_attempts/j/00000/1/00000.tar", data)
	put(t, s, "00000.tar", []byte("an older version, longer than the new one"))
	for range 2 { // over an existing object, then again
		info, err := s.Copy(ctx, "_attempts/j/00000/1/00000.tar", "00000.tar")
		if err != nil || info.Size != int64(len(data)) || info.SHA256 != sum(data) || info.Key != "00000.tar" {
			t.Fatalf("copy: %+v %v", info, err)
		}
	}
	if got := get(t, s, "00000.tar"); !bytes.Equal(got, data) {
		t.Fatalf("copied object %q", got)
	}
	if st, err := s.Stat(ctx, "00000.tar"); err != nil || st.SHA256 != sum(data) {
		t.Fatalf("stat of the copy: %+v %v (the recorded sha256 must travel with it)", st, err)
	}
	if info, err := s.Copy(ctx, "00000.tar", "00000.tar"); err != nil || info.SHA256 != sum(data) {
		t.Fatalf("copy onto itself: %+v %v", info, err)
	}
	if info, err := s.Copy(ctx, "_attempts/j/00000/1/00000.tar", "a/new/folder/x.tar"); err != nil || info.Size != int64(len(data)) {
		t.Fatalf("copy into a new folder: %+v %v", info, err)
	}
	// The copy is independent of its source.
	put(t, s, "_attempts/j/00000/1/00000.tar", []byte("rewritten"))
	if err := s.Delete(ctx, "_attempts/j/00000/1/00000.tar"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, "00000.tar"); !bytes.Equal(got, data) {
		t.Fatalf("copy changed with its source: %q", got)
	}
	if _, err := s.Copy(ctx, "_attempts/j/00000/1/00000.tar", "y"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("copy of a missing object: %v, want ErrNotFound", err)
	}
	for _, k := range []string{"", "..", "a/../b", "/abs"} {
		if _, err := s.Copy(ctx, "00000.tar", k); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("copy to %q: %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Copy(ctx, k, "z"); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("copy from %q: %v, want ErrInvalidKey", k, err)
		}
	}
	if got := keys(t, s, ""); !slices.Equal(got, []string{"00000.tar", "a/new/folder/x.tar"}) {
		t.Fatalf("objects after the copies: %v", got)
	}
}

// stagedShard writes shard 0 of job "j" as attempt does, under its attempt
// folder; each attempt's bytes differ (as a real retry's provenance does).
func stagedShard(t *testing.T, s storage.Store, format string, attempt int) storage.ShardStats {
	t.Helper()
	ctx := context.Background()
	w, err := storage.NewShardWriter(storage.Stage(s, "", storage.AttemptPrefix("", "j", 0, attempt)), format, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(2) {
		smp := storage.Sample{Index: i, Prompt: fmt.Sprint("prompt ", i), PNG: fmt.Appendf(nil, "png %d of attempt %d", i, attempt),
			Meta: map[string]any{"attempt": attempt}, Width: 8, Height: 8}
		if err := w.Write(ctx, smp); err != nil {
			t.Fatal(err)
		}
	}
	st, err := w.Finish(ctx, storage.ShardStats{Job: "j", Attempt: attempt, Node: fmt.Sprint("node-", attempt), End: 2})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// visible returns every object outside the attempt folders, by key.
func visible(t *testing.T, s storage.Store) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, k := range keys(t, s, "") {
		if !strings.HasPrefix(k, storage.AttemptsDir+"/") {
			out[k] = get(t, s, k)
		}
	}
	return out
}

// TestPublishFencesLateAttempt: attempt 1 of a shard is fenced (its node
// froze past its lease) and attempt 2 is accepted and published; attempt
// 1 then writes its whole shard late. The visible objects stay attempt
// 2's byte for byte; the coordinator's check publishes nothing again;
// a stale attempt's staging is discarded; a node that died after the
// acceptance is covered by EnsurePublished.
func TestPublishFencesLateAttempt(t *testing.T) {
	for name, open := range stores(t) {
		for _, format := range []string{storage.FormatFiles, storage.FormatWebDataset} {
			t.Run(name+"/"+format, func(t *testing.T) { testPublishFenced(t, open(t), format) })
		}
	}
}

func testPublishFenced(t *testing.T, s storage.Store, format string) {
	ctx := context.Background()
	stagedShard(t, s, format, 1) // attempt 1 staged, never accepted
	stagedShard(t, s, format, 2)
	if got := visible(t, s); len(got) != 0 {
		t.Fatalf("staged shards are visible: %v", slices.Collect(mapKeys(got)))
	}
	// Attempt 2 accepted; its node died before publishing: the coordinator does.
	if published, err := storage.EnsurePublished(ctx, s, "", "j", 0, 2); err != nil || !published {
		t.Fatalf("ensure published: %v %v", published, err)
	}
	want := visible(t, s)
	st, err := storage.VerifyShard(ctx, s, "", 0, "")
	if err != nil || st.Attempt != 2 || st.Node != "node-2" {
		t.Fatalf("published shard: %+v %v", st, err)
	}
	stagedShard(t, s, format, 1) // the fenced writer wakes up and writes it all again
	if published, err := storage.EnsurePublished(ctx, s, "", "j", 0, 2); err != nil || published {
		t.Fatalf("second check published again: %v %v", published, err)
	}
	got := visible(t, s)
	if len(got) != len(want) {
		t.Fatalf("visible objects %v, want %v", slices.Collect(mapKeys(got)), slices.Collect(mapKeys(want)))
	}
	for k, b := range want {
		if !bytes.Equal(got[k], b) || bytes.Contains(got[k], []byte("attempt 1")) || bytes.Contains(got[k], []byte(`"attempt": 1`)) {
			t.Fatalf("%s changed after the late write:\n%s\nwant\n%s", k, got[k], b)
		}
	}
	// The stale attempt is refused: its node discards its staging.
	if err := storage.DiscardAttempt(ctx, s, "", "j", 0, 1); err != nil {
		t.Fatal(err)
	}
	if left := keys(t, s, storage.AttemptPrefix("", "j", 0, 1)+"/"); len(left) != 0 {
		t.Fatalf("discarded attempt left %v", left)
	}
	if _, err := storage.Publish(ctx, s, "", "j", 0, 1); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("publishing a discarded attempt: %v", err)
	}
	if _, err := storage.DeletePrefix(ctx, s, storage.JobAttempts("", "j")+"/"); err != nil {
		t.Fatal(err)
	}
	if all := keys(t, s, ""); len(all) != len(want) {
		t.Fatalf("after the job's staging is deleted: %v", all)
	}
}

func mapKeys(m map[string][]byte) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestAttemptPrefix(t *testing.T) {
	for _, c := range []struct {
		prefix, job string
		shard, att  int
		want        string
	}{
		{"", "j-1", 3, 2, "_attempts/j-1/00003/2"},
		{"out", "j-1", 0, 1, "out/_attempts/j-1/00000/1"},
		{"", "..", 0, 1, "_attempts/%2E%2E/00000/1"},
		{"", ".", 0, 1, "_attempts/%2E/00000/1"},
	} {
		got := storage.AttemptPrefix(c.prefix, c.job, c.shard, c.att)
		if got != c.want || storage.CheckKey(got) != nil {
			t.Errorf("AttemptPrefix(%q, %q, %d, %d) = %q, want %q", c.prefix, c.job, c.shard, c.att, got, c.want)
		}
	}
}

// TestSettled: an unanswered attempt's staging may go once the shard's
// final stats are of the same job (whichever attempt), not before, and
// not over an earlier job's stats.
func TestSettled(t *testing.T) {
	ctx := context.Background()
	s, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check := func(job string, want bool) {
		t.Helper()
		if got, err := storage.Settled(ctx, s, "", job, 0); err != nil || got != want {
			t.Fatalf("settled for job %s: %v %v, want %v", job, got, err, want)
		}
	}
	check("j", false) // nothing published
	put(t, s, storage.StatsKey("", 0), []byte("{not json"))
	check("j", false)
	stagedShard(t, s, storage.FormatFiles, 2)
	if _, err := storage.Publish(ctx, s, "", "j", 0, 2); err != nil {
		t.Fatal(err)
	}
	check("j", true)      // attempt 2 published: attempt 1's staging may go, and 2's
	check("other", false) // another job's attempt learns nothing from j's stats
}
