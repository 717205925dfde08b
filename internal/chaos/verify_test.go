package chaos

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// fakeOutput writes a whole job's output by hand (independently of the
// node's writers): shards of 2 samples, .png/.json/.txt, stats, manifest.
func fakeOutput(t *testing.T, out string, images, shardSize int) []protocol.Task {
	t.Helper()
	var rows []storage.ManifestRow
	var tasks []protocol.Task
	for s := 0; s*shardSize < images; s++ {
		st := storage.ShardStats{Job: "j-test", Shard: s, Attempt: 2, Node: "n1", Format: storage.FormatFiles,
			Start: int64(s * shardSize), End: int64(min(images, (s+1)*shardSize))}
		for i := st.Start; i < st.End; i++ {
			stem := fmt.Sprintf("%05d/%09d", s, i)
			pngBytes := fakePNG(t, int(i))
			meta, _ := json.Marshal(map[string]any{"job": "j-test", "shard": s, "node": "n1", "attempt": 2})
			for ext, b := range map[string][]byte{".png": pngBytes, ".json": meta, ".txt": []byte("p")} {
				writeFile(t, filepath.Join(out, stem+ext), b)
				st.Files = append(st.Files, storage.ObjectDigest{Key: stem + ext, Size: int64(len(b)), SHA256: hexSum(b)})
			}
			rec := storage.SampleRecord{Index: i, Key: fmt.Sprintf("%09d", i), Object: stem + ".png", PNG: hexSum(pngBytes),
				Width: 8, Height: 8, Status: storage.StatusOK}
			st.Samples = append(st.Samples, rec)
			rows = append(rows, storage.ManifestRow{Key: rec.Key, Index: i, Shard: int32(s), Object: rec.Object,
				PNG: rec.PNG, Width: 8, Height: 8, Status: storage.StatusOK})
		}
		pq := fmt.Sprintf("%05d.parquet", s) // the shard's sample table, beside its folder
		writeFile(t, filepath.Join(out, pq), []byte("PAR1"))
		st.Files = append(st.Files, storage.ObjectDigest{Key: pq, Size: 4, SHA256: hexSum([]byte("PAR1"))})
		st.Images = len(st.Samples)
		js, _ := json.Marshal(st)
		writeFile(t, filepath.Join(out, fmt.Sprintf("%05d_stats.json", s)), js)
		tasks = append(tasks, protocol.Task{TaskKey: protocol.TaskKey{Job: "j-test", Shard: s}, State: protocol.TaskDone,
			Attempt: 2, Assignee: "n1"})
	}
	var m bytes.Buffer
	for _, r := range rows {
		b, _ := json.Marshal(r)
		m.Write(append(b, '\n'))
	}
	writeFile(t, filepath.Join(out, storage.ManifestJSONL), m.Bytes())
	writeFile(t, filepath.Join(out, storage.ManifestParquet), []byte("PAR1"))
	return tasks
}

func fakePNG(t *testing.T, seed int) []byte {
	img := image.NewGray(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = byte(seed*31 + i)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func hexSum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func editFile(t *testing.T, p string, edit func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, edit(b))
}

// TestVerifyOutput: a whole output passes; each kind of damage a fault
// could leave is reported, naming the object.
func TestVerifyOutput(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, root string, tasks []protocol.Task)
		want   string // "" = no problem
	}{
		{"whole", func(*testing.T, string, []protocol.Task) {}, ""},
		{"object changed", func(t *testing.T, root string, _ []protocol.Task) {
			editFile(t, filepath.Join(root, "out/00001/000000002.png"), func(b []byte) []byte { b[len(b)-20] ^= 1; return b })
		}, "out/00001/000000002.png"[4:] + " is"},
		{"object missing", func(t *testing.T, root string, _ []protocol.Task) {
			os.Remove(filepath.Join(root, "out/00000/000000001.txt"))
		}, "00000/000000001.txt"},
		{"written outside the output", func(t *testing.T, root string, _ []protocol.Task) {
			writeFile(t, filepath.Join(root, "elsewhere/x.png"), []byte("x"))
		}, "elsewhere/x.png: written outside"},
		{"unknown object inside", func(t *testing.T, root string, _ []protocol.Task) {
			writeFile(t, filepath.Join(root, "out/00000/000000099.png"), []byte("x"))
		}, "not listed by any shard"},
		{"orphan temporary file", func(t *testing.T, root string, _ []protocol.Task) {
			writeFile(t, filepath.Join(root, "out/00000/.sanafarm-tmp-123"), []byte("x"))
		}, "temporary file left behind"},
		{"attempt staging left", func(t *testing.T, root string, _ []protocol.Task) {
			writeFile(t, filepath.Join(root, "out/_attempts/00000/1/000000000.png"), []byte("x"))
		}, "attempt staging left behind"},
		{"manifest row twice", func(t *testing.T, root string, _ []protocol.Task) {
			editFile(t, filepath.Join(root, "out/manifest.jsonl"), func(b []byte) []byte {
				return append(b, b[:bytes.IndexByte(b, '\n')+1]...)
			})
		}, "sample 0 listed 2 times"},
		{"manifest row missing", func(t *testing.T, root string, _ []protocol.Task) {
			editFile(t, filepath.Join(root, "out/manifest.jsonl"), func(b []byte) []byte {
				return b[bytes.IndexByte(b, '\n')+1:]
			})
		}, "sample 0 listed 0 times"},
		{"no manifest", func(t *testing.T, root string, _ []protocol.Task) {
			os.Remove(filepath.Join(root, "out/manifest.jsonl"))
		}, "manifest.jsonl"},
		{"stats of a fenced attempt", func(t *testing.T, _ string, tasks []protocol.Task) {
			tasks[1].Attempt, tasks[1].Assignee = 3, "n0"
		}, "the coordinator recorded done attempt 3 by n0"},
		{"sidecar of another attempt", func(t *testing.T, root string, _ []protocol.Task) {
			p := filepath.Join(root, "out/00001/000000003.json")
			editFile(t, p, func(b []byte) []byte { return bytes.Replace(b, []byte(`"attempt":2`), []byte(`"attempt":1`), 1) })
			fixDigest(t, root, 1, "00001/000000003.json")
		}, "sidecar says job j-test shard 1 attempt 1"},
		{"corrupt png chunk", func(t *testing.T, root string, _ []protocol.Task) {
			p := filepath.Join(root, "out/00000/000000000.png")
			editFile(t, p, func(b []byte) []byte { b[len(b)-13] ^= 0xff; return b }) // IDAT's crc
			fixDigest(t, root, 0, "00000/000000000.png")
		}, "crc"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			tasks := fakeOutput(t, filepath.Join(root, "out"), 5, 2)
			c.damage(t, root, tasks)
			err := verifyDir(t, root, "out", Expect{Job: "j-test", Images: 5, Shards: 3, Size: 8, Tasks: tasks})
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("whole output reported: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want a problem containing %q", err, c.want)
			}
		})
	}
}

// fixDigest updates the stats of shard to the object's new size and
// SHA-256 (damage that the digests alone would not reveal).
func fixDigest(t *testing.T, root string, shard int, key string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "out", key))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "out", fmt.Sprintf("%05d_stats.json", shard))
	var st storage.ShardStats
	editFile(t, p, func(js []byte) []byte {
		if err := json.Unmarshal(js, &st); err != nil {
			t.Fatal(err)
		}
		for i := range st.Files {
			if st.Files[i].Key == key {
				st.Files[i].Size, st.Files[i].SHA256 = int64(len(b)), hexSum(b)
			}
		}
		out, _ := json.Marshal(st)
		return out
	})
}

func verifyDir(t *testing.T, root, prefix string, e Expect) error {
	t.Helper()
	keys, err := DirKeys(root)
	if err != nil {
		t.Fatal(err)
	}
	store, err := storage.NewLocal(filepath.Join(root, prefix))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	return VerifyOutput(context.Background(), Output{Store: store, Keys: keys, Prefix: prefix}, e)
}
