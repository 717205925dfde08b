package storage

import (
	"context"
	"encoding/json"
	"io"
	"testing"
)

func TestFilesWriter(t *testing.T) {
	ctx := context.Background()
	s, _ := newLocal(t)
	w := NewFilesWriter(s, "run1", 7)
	for i := int64(448); i < 450; i++ {
		err := w.Write(ctx, Sample{Index: i, Prompt: "a fox", PNG: []byte("png"), Meta: map[string]any{"seed": i}})
		if err != nil {
			t.Fatal(err)
		}
	}
	st, err := w.Finish(ctx, ShardStats{Job: "j-1", Node: "n1", Start: 448, End: 450})
	if err != nil {
		t.Fatal(err)
	}
	if st.Images != 2 || st.Objects != 8 || st.Shard != 7 || st.Bytes != w.Bytes() {
		t.Fatalf("stats %+v (writer bytes %d)", st, w.Bytes())
	}
	objs := w.Objects()
	if len(objs) != 8 || objs[0] != "run1/00007/000000448.png" || objs[6] != "run1/00007.parquet" ||
		objs[7] != "run1/00007_stats.json" {
		t.Fatalf("objects %v", objs)
	}
	rc, err := s.Get(ctx, "run1/00007_stats.json")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	var back ShardStats
	if err := json.Unmarshal(b, &back); err != nil || back.Images != 2 || back.Job != "j-1" {
		t.Fatalf("stats file %s: %v", b, err)
	}
	if StatsKey("", 3) != "00003_stats.json" || ShardDir("", 3) != "00003" || SampleKey(12) != "000000012" {
		t.Fatal("key layout changed")
	}
}
