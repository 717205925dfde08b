package storage

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"time"
)

// TarKey is "<prefix>/<shard:05d>.tar", a WebDataset shard.
func TarKey(prefix string, shard int) string {
	return path.Join(prefix, fmt.Sprintf("%05d.tar", shard))
}

// tarTime is every member's modification time, so that a shard's tar is
// a pure function of its members' bytes.
var tarTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// WebDatasetWriter writes one shard as a WebDataset tar: <key>.png,
// <key>.json and <key>.txt per sample, in sample order, with fixed
// headers (mode 0644, uid/gid 0, no owner names, a fixed mtime). The tar
// is spooled to a local temporary file and stored with ONE Put, so a
// partial tar never appears under its key; _stats.json follows it.
type WebDatasetWriter struct {
	store   Putter
	prefix  string
	shard   int
	tmp     *os.File
	tw      *tar.Writer
	sum     hash.Hash
	size    int64
	err     error
	objects []string
	samples []SampleRecord
	bytes   int64
}

// NewWebDatasetWriter writes shard under prefix ("" for the store's root).
func NewWebDatasetWriter(store Putter, prefix string, shard int) *WebDatasetWriter {
	return &WebDatasetWriter{store: store, prefix: prefix, shard: shard}
}

// Write appends a sample's three members to the tar.
func (w *WebDatasetWriter) Write(ctx context.Context, s Sample) error {
	if err := w.open(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	parts, err := sampleParts(s)
	if err != nil {
		return err
	}
	key := SampleKey(s.Index)
	for _, p := range parts {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: key + p.ext, Size: int64(len(p.data)), Mode: 0o644,
			ModTime: tarTime, Format: tar.FormatUSTAR}
		if err := w.tw.WriteHeader(hdr); err != nil {
			return w.fail(fmt.Errorf("tar member %s: %w", hdr.Name, err))
		}
		if _, err := w.tw.Write(p.data); err != nil {
			return w.fail(fmt.Errorf("tar member %s: %w", hdr.Name, err))
		}
	}
	w.samples = append(w.samples, sampleRecord(s, TarKey(w.prefix, w.shard), key+".png"))
	return nil
}

func (w *WebDatasetWriter) open() error {
	if w.err != nil {
		return w.err
	}
	if w.tmp != nil {
		return nil
	}
	f, err := createSpool("", fmt.Sprintf("sanafarm-shard-%05d-*.tar", w.shard))
	if err != nil {
		return w.fail(fmt.Errorf("spooling shard %05d: %w", w.shard, err))
	}
	w.tmp, w.sum = f, sha256.New()
	w.tw = tar.NewWriter(&countWriter{w: io.MultiWriter(spoolWriter{f}, w.sum), n: &w.size})
	return nil
}

func (w *WebDatasetWriter) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return err
}

// Finish closes the tar, stores it with one Put, then writes _stats.json.
func (w *WebDatasetWriter) Finish(ctx context.Context, st ShardStats) (ShardStats, error) {
	defer w.Abort()
	if err := w.open(); err != nil {
		return st, err
	}
	if err := w.tw.Close(); err != nil {
		return st, fmt.Errorf("closing shard %05d tar: %w", w.shard, err)
	}
	if _, err := w.tmp.Seek(0, io.SeekStart); err != nil {
		return st, fmt.Errorf("rewinding shard %05d tar: %w", w.shard, err)
	}
	key := TarKey(w.prefix, w.shard)
	n, err := w.store.Put(ctx, key, io.LimitReader(w.tmp, w.size))
	if err != nil {
		return st, fmt.Errorf("writing shard %05d: %w", w.shard, err)
	}
	if n != w.size {
		return st, fmt.Errorf("writing shard %05d: stored %d of %d tar bytes", w.shard, n, w.size)
	}
	w.objects = append(w.objects, key)
	w.bytes += n
	files := []ObjectDigest{{Key: key, Size: n, SHA256: hex.EncodeToString(w.sum.Sum(nil))}}
	st.Format = FormatWebDataset
	st, err = writeStats(ctx, w.store, w.prefix, w.shard, st, files, w.samples, w.bytes, &w.objects)
	if err == nil {
		w.bytes = st.Bytes
	}
	return st, err
}

// Abort removes the spooled tar (Finish calls it too).
func (w *WebDatasetWriter) Abort() {
	if w.tmp != nil {
		w.tmp.Close()
		os.Remove(w.tmp.Name())
		w.tmp = nil
		w.fail(fmt.Errorf("shard %05d writer is closed", w.shard))
	}
}

// Objects returns the keys written so far.
func (w *WebDatasetWriter) Objects() []string { return append([]string(nil), w.objects...) }

// Bytes returns the bytes stored so far.
func (w *WebDatasetWriter) Bytes() int64 { return w.bytes }

// Images returns the samples written so far.
func (w *WebDatasetWriter) Images() int { return len(w.samples) }

type countWriter struct {
	w io.Writer
	n *int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}
