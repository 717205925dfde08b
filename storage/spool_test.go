package storage

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestSpoolFailuresMarked: a spool file that cannot be made (its folder
// gone) or written (a full disk: /dev/full answers ENOSPC) fails with
// ErrSpool, so the node reports the failure as its own; a failure of what
// is read into the spool is not marked.
func TestSpoolFailuresMarked(t *testing.T) {
	if _, err := createSpool(filepath.Join(t.TempDir(), "gone"), "x-*"); !errors.Is(err, ErrSpool) {
		t.Errorf("creating in a missing folder: %v, want ErrSpool", err)
	}
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	_, err = spoolWriter{full}.Write([]byte("image bytes"))
	if !errors.Is(err, ErrSpool) || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("writing to a full disk: %v, want ErrSpool and ENOSPC", err)
	}
	f, err := createSpool(t.TempDir(), "x-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	readErr := errors.New("the encoder broke")
	if _, err := io.Copy(spoolWriter{f}, brokenReader{readErr}); !errors.Is(err, readErr) || errors.Is(err, ErrSpool) {
		t.Errorf("a read failure while spooling: %v, want it unmarked", err)
	}
}

// TestWebDatasetSpoolGone: a webdataset shard whose node has no usable
// temporary folder fails with ErrSpool at its first sample.
func TestWebDatasetSpoolGone(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "gone"))
	s, _ := newLocal(t)
	w := NewWebDatasetWriter(s, "", 0)
	defer w.Abort()
	if err := w.Write(context.Background(), testSample(0)); !errors.Is(err, ErrSpool) {
		t.Fatalf("Write = %v, want ErrSpool", err)
	}
}

type brokenReader struct{ err error }

func (r brokenReader) Read([]byte) (int, error) { return 0, r.err }
