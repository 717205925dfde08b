package storage

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestSampleImage reads back sample images of both layouts, and refuses
// samples a shard does not have.
func TestSampleImage(t *testing.T) {
	ctx := context.Background()
	for _, format := range []string{"files", "webdataset"} {
		t.Run(format, func(t *testing.T) {
			s, _ := newLocal(t)
			w, err := NewShardWriter(s, format, "out", 3)
			if err != nil {
				t.Fatal(err)
			}
			for i := range int64(3) {
				png := []byte(fmt.Sprintf("png-%d", i))
				if err := w.Write(ctx, Sample{Index: 30 + i, Prompt: "p", PNG: png, Meta: map[string]any{}}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := w.Finish(ctx, ShardStats{Job: "j", Start: 30, End: 33}); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				b, err := SampleImage(ctx, s, "out", 3, i)
				if err != nil || string(b) != fmt.Sprintf("png-%d", i) {
					t.Fatalf("sample %d: %q, %v", i, b, err)
				}
			}
			for _, bad := range []int{-1, 3} {
				if _, err := SampleImage(ctx, s, "out", 3, bad); !errors.Is(err, ErrNotFound) {
					t.Errorf("sample %d: %v, want ErrNotFound", bad, err)
				}
			}
			if _, err := SampleImage(ctx, s, "out", 4, 0); !errors.Is(err, ErrNotFound) {
				t.Errorf("missing shard: %v, want ErrNotFound", err)
			}
		})
	}
}
