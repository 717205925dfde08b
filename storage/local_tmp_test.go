package storage

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLocalSweepsOrphanTemp: a temporary file left by a killed writer (no
// one holds its lock) is removed when the store is next opened; one a
// live writer holds stays; no temporary file is ever listed, and a
// closed store leaves no temporary folder behind.
func TestLocalSweepsOrphanTemp(t *testing.T) {
	dir := t.TempDir()
	live, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	held, f, err := live.createTemp("00001.tar") // a writer mid-Put
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	orphan := filepath.Join(dir, tmpDir, tmpPrefix+"00000.tar-0123456789ab") // a killed writer's
	if err := os.WriteFile(orphan, []byte("half a tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n := count(t, live, ""); n != 0 {
		t.Fatalf("listed %d objects, want 0 (temporary files hidden)", n)
	}
	again, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("orphan temporary file still there after NewLocal: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(held))); err != nil {
		t.Errorf("a live writer's temporary file was swept: %v", err)
	}
	again.Close()
	// The live writer finishes: its file is placed, the folder empties.
	if err := live.place(held, "00001.tar", false); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := live.Put(context.Background(), "a/b.png", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	live.Close()
	if _, err := os.Stat(filepath.Join(dir, tmpDir)); !os.IsNotExist(err) {
		t.Errorf("temporary folder left after Close: %v", err)
	}
	if _, err := live.Put(context.Background(), tmpDir+"/x", strings.NewReader("x")); err == nil {
		t.Error("a key in the temporary folder was accepted")
	}
}

// TestLocalDeletePrunesFolders: deleting a folder's last object removes
// the folders left empty (an attempt's staging leaves nothing behind),
// and a Put into a pruned folder makes it again.
func TestLocalDeletePrunesFolders(t *testing.T) {
	ctx := context.Background()
	s, dir := newLocal(t)
	for _, k := range []string{"_attempts/j/00000/1/00000.tar", "_attempts/j/00000/1/00000_stats.json", "keep/x"} {
		if _, err := s.Put(ctx, k, strings.NewReader(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := DiscardAttempt(ctx, s, "", "j", 0, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, AttemptsDir)); !os.IsNotExist(err) {
		t.Errorf("%s left after its last object went: %v", AttemptsDir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keep", "x")); err != nil {
		t.Error(err)
	}
	if _, err := s.Put(ctx, "_attempts/j/00000/2/00000.tar", strings.NewReader("y")); err != nil {
		t.Fatal(err)
	}
}

// TestLocalCopyTwiceLeavesNoTemp: publishing an attempt twice (its node
// and the leader's EnsurePublished both copy it) links a temporary file
// onto a key that is already a hard link of the same file; rename(2)
// then does nothing, and the temporary link must still go.
func TestLocalCopyTwiceLeavesNoTemp(t *testing.T) {
	ctx := context.Background()
	s, dir := newLocal(t)
	if _, err := s.Put(ctx, "_attempts/j/00000/1/00000.parquet", strings.NewReader("rows")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.Copy(ctx, "_attempts/j/00000/1/00000.parquet", "00000.parquet"); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := os.ReadDir(filepath.Join(dir, tmpDir))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left in %s: %s", tmpDir, e.Name())
	}
}
