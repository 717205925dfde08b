package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Fuzz tests of the parsers of what nodes (or anyone with access to the
// bucket) write next to a shard: its _stats.json (ReadStats, VerifyShard).
// The project's rule: every parser of outside data gets a fuzz test.

// fuzzShard is the shard the fuzz tests write with the package's writers.
const fuzzShard = 7

// fuzzStore is an in-memory Reader and Putter that checks keys as the real
// stores do (CheckKey), so fuzz iterations touch no disk. Not safe for
// concurrent use.
type fuzzStore struct {
	objects map[string][]byte
	noSHA   bool // Stat leaves SHA256 empty (objects other tools wrote)
}

func newFuzzStore() *fuzzStore { return &fuzzStore{objects: map[string][]byte{}} }

// with is a copy of s with key's content replaced by b.
func (s *fuzzStore) with(key string, b []byte) *fuzzStore {
	c := &fuzzStore{objects: maps.Clone(s.objects), noSHA: s.noSHA}
	c.objects[key] = b
	return c
}

func (s *fuzzStore) object(key string) ([]byte, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	b, ok := s.objects[key]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return b, nil
}

func (s *fuzzStore) Put(_ context.Context, key string, r io.Reader) (int64, error) {
	if err := CheckKey(key); err != nil {
		return 0, err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	s.objects[key] = b
	return int64(len(b)), nil
}

func (s *fuzzStore) Get(_ context.Context, key string) (io.ReadCloser, error) {
	b, err := s.object(key)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (s *fuzzStore) Stat(_ context.Context, key string) (ObjectInfo, error) {
	b, err := s.object(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	info := ObjectInfo{Key: key, Size: int64(len(b))}
	if !s.noSHA {
		info.SHA256 = sha256Hex(b)
	}
	return info, nil
}

// writeFuzzShard writes shard fuzzShard under "p" in format with the
// package's writers: samples 70-72 with an id, settings and extra fields
// of every kind (a number field that is an int in one row and a string in
// another), and sample 73 failed. The fuzzers start from these bytes.
func writeFuzzShard(tb testing.TB, format string) *fuzzStore {
	tb.Helper()
	ctx := context.Background()
	s := newFuzzStore()
	w, err := NewShardWriter(s, format, "p", fuzzShard)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range int64(3) {
		smp := testSample(70 + i)
		smp.ID, smp.Steps, smp.Guidance, smp.Sampler = fmt.Sprint("row-", i), 20, 4.5, "euler"
		smp.Extra = map[string]json.RawMessage{"aesthetic": json.RawMessage(fmt.Sprintf("%d.5", i)),
			"tags": json.RawMessage(`["a", "<b>"]`), "nsfw": json.RawMessage("false"),
			"n": json.RawMessage(fmt.Sprint(i)), "mixed": json.RawMessage([]string{"1", `"x"`, "null"}[i])}
		if err := w.Write(ctx, smp); err != nil {
			tb.Fatal(err)
		}
	}
	_, err = w.Finish(ctx, ShardStats{Job: "j", Start: 70, End: 74, RequestHash: "h", Seconds: 12.5,
		Finished: time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC), Failures: []SampleFailure{{Index: 73, Reason: "oom"}}})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// brokenStats are stats a node or a bucket user could leave: cut short,
// of another shard, mistyped, not JSON at all.
func brokenStats(good []byte) [][]byte {
	return [][]byte{good[:len(good)/2], []byte(`{"shard": 8}`), []byte(`{"shard": 7, "samples": [{"index": "x"}]}`),
		[]byte(`{"shard": 7, "request_hash": "h", "files": [{"key": "../x", "size": 1}], "samples": []}`), []byte("null"), nil,
		[]byte(`{"shard": 7, "request_hash": "h", "images": 1, "samples": [{"object": "p/00007.tar", "member": "000000070.png"}], "files": [{"key": "p/00007.tar"}]}`)}
}

// allocated runs fn and returns the bytes the process allocated meanwhile
// (in a fuzz worker: fn's).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// FuzzReadStats: stats are accepted only for the shard asked for, every
// refusal wraps ErrShardIncomplete and names the stats object, and what is
// accepted re-encodes and reads back the same (what VerifyShard, the
// dashboard and the manifest see does not depend on how a node spelled it).
func FuzzReadStats(f *testing.F) {
	for _, format := range []string{FormatWebDataset, FormatFiles} {
		good := writeFuzzShard(f, format).objects[StatsKey("p", fuzzShard)]
		f.Add(good)
		for _, b := range brokenStats(good) {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"shard": 7, "finished": "0000-01-01T00:00:00Z", "seconds": 1e308, "timings": {"x": -0}}`))
	key := StatsKey("p", fuzzShard)
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		s := newFuzzStore().with(key, data)
		st, err := ReadStats(ctx, s, "p", fuzzShard)
		if err != nil {
			if !errors.Is(err, ErrShardIncomplete) || !strings.HasPrefix(err.Error(), key+": ") {
				t.Fatalf("error %q does not wrap ErrShardIncomplete naming %s", err, key)
			}
			return
		}
		if st.Shard != fuzzShard {
			t.Fatalf("stats of shard %d accepted for shard %d", st.Shard, fuzzShard)
		}
		js, err := json.Marshal(st)
		if err != nil {
			t.Fatalf("accepted stats do not re-encode: %v", err)
		}
		st2, err := ReadStats(ctx, s.with(key, js), "p", fuzzShard)
		if err != nil {
			t.Fatalf("re-encoded stats refused: %v\n%s", err, js)
		}
		if js2, _ := json.Marshal(st2); !bytes.Equal(js, js2) {
			t.Fatalf("stats change on a round trip:\n%s\n%s", js, js2)
		}
	})
}

// FuzzVerifyShard: VerifyShard accepts a shard only if every object its
// stats list exists with the recorded size and SHA-256 (checked here
// against the store's bytes, by Stat's digest or by hashing), the stats
// are of the request and list each sample; every refusal wraps
// ErrShardIncomplete and names the shard. The writers' shards, unchanged,
// are accepted. obj replaces the tar (webdataset) or the first sample's PNG
// (files); hashed says whether Stat reports SHA-256s.
func FuzzVerifyShard(f *testing.F) {
	stores := map[bool]*fuzzStore{false: writeFuzzShard(f, FormatWebDataset), true: writeFuzzShard(f, FormatFiles)}
	objKey := map[bool]string{false: TarKey("p", fuzzShard), true: ShardDir("p", fuzzShard) + "/000000070.png"}
	key := StatsKey("p", fuzzShard)
	for files, s := range stores {
		good, obj := s.objects[key], s.objects[objKey[files]]
		f.Add(good, obj, files, true)
		f.Add(good, obj, files, false)
		f.Add(good, obj[:len(obj)-1], files, false)
		f.Add(bytes.Replace(good, []byte(`"request_hash": "h"`), []byte(`"request_hash": "g"`), 1), obj, files, true)
		f.Add(bytes.Replace(good, []byte(`"images": 3`), []byte(`"images": 2`), 1), obj, files, true)
		for _, b := range brokenStats(good) {
			f.Add(b, obj, files, true)
		}
	}
	f.Fuzz(func(t *testing.T, stats, obj []byte, files, hashed bool) {
		base := stores[files]
		s := base.with(key, stats).with(objKey[files], obj)
		s.noSHA = !hashed
		st, err := VerifyShard(context.Background(), s, "p", fuzzShard, "h")
		if err != nil {
			if !errors.Is(err, ErrShardIncomplete) {
				t.Fatalf("error %q does not wrap ErrShardIncomplete", err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("shard %05d", fuzzShard)) && !strings.HasPrefix(err.Error(), key+": ") {
				t.Fatalf("error %q does not name the shard", err)
			}
			if bytes.Equal(stats, base.objects[key]) && bytes.Equal(obj, base.objects[objKey[files]]) {
				t.Fatalf("the writer's shard refused: %v", err)
			}
			return
		}
		if st.Shard != fuzzShard || st.RequestHash != "h" || len(st.Files) == 0 || len(st.Samples) != st.Images {
			t.Fatalf("accepted stats of shard %d, request %q, %d files, %d of %d samples",
				st.Shard, st.RequestHash, len(st.Files), len(st.Samples), st.Images)
		}
		for _, d := range st.Files {
			b, ok := s.objects[d.Key]
			if !ok || int64(len(b)) != d.Size || !strings.EqualFold(sha256Hex(b), d.SHA256) {
				t.Fatalf("accepted %s (%d bytes, sha256 %.12s): stored %v, %d bytes, sha256 %.12s",
					d.Key, d.Size, d.SHA256, ok, len(b), sha256Hex(b))
			}
		}
	})
}
