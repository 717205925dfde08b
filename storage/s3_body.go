package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// putBody is an upload's content: random access (so every retry and
// every parallel part reads from it without a copy), its size and SHA-256.
type putBody struct {
	ra      io.ReaderAt
	off     int64
	size    int64
	sha     string
	cleanup func()
}

func (b *putBody) reader() *io.SectionReader { return io.NewSectionReader(b.ra, b.off, b.size) }

func (b *putBody) close() {
	if b.cleanup != nil {
		b.cleanup()
	}
}

type readerAtSeeker interface {
	io.ReaderAt
	io.Seeker
}

// prepareBody hashes r's content and makes it replayable: a seekable
// io.ReaderAt (or an *io.LimitedReader over one) is used in place from its
// current offset; other readers are spooled to memory up to PartSize, to
// a temporary file beyond.
func (s *S3) prepareBody(ctx context.Context, r io.Reader) (*putBody, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if ras, ok := lr.R.(readerAtSeeker); ok {
			b, err := seekableBody(ctx, ras, max(lr.N, 0))
			if err == nil {
				lr.N -= b.size
			}
			return b, err
		}
	}
	if ras, ok := r.(readerAtSeeker); ok {
		return seekableBody(ctx, ras, -1)
	}
	return s.spool(ctx, r)
}

func seekableBody(ctx context.Context, ras readerAtSeeker, limit int64) (*putBody, error) {
	off, err := ras.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	end, err := ras.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	size := end - off
	if limit >= 0 {
		size = min(size, limit)
	}
	// Leave the reader where a plain read of the content would.
	if _, err := ras.Seek(off+size, io.SeekStart); err != nil {
		return nil, err
	}
	b := &putBody{ra: ras, off: off, size: size}
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx: ctx, r: b.reader()}); err != nil {
		return nil, err
	}
	b.sha = hex.EncodeToString(h.Sum(nil))
	return b, nil
}

func (s *S3) spool(ctx context.Context, r io.Reader) (*putBody, error) {
	h := sha256.New()
	src := io.TeeReader(ctxReader{ctx: ctx, r: r}, h)
	var buf bytes.Buffer
	n, err := io.CopyN(&buf, src, s.cfg.PartSize+1)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if n <= s.cfg.PartSize {
		return &putBody{ra: bytes.NewReader(buf.Bytes()), size: n, sha: hex.EncodeToString(h.Sum(nil))}, nil
	}
	f, err := createSpool(s.cfg.SpoolDir, ".sanafarm-s3-spool-*")
	if err != nil {
		return nil, fmt.Errorf("spooling the upload: %w", err)
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	m, err := io.Copy(spoolWriter{f}, io.MultiReader(&buf, src))
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("spooling the upload: %w", err)
	}
	return &putBody{ra: f, size: m, sha: hex.EncodeToString(h.Sum(nil)), cleanup: cleanup}, nil
}

// s3Reader streams an object, resuming with a ranged GET of the same ETag
// after a transient error, up to MaxAttempts times in all.
type s3Reader struct {
	s        *S3
	ctx      context.Context
	key      string
	etag     string
	size     int64
	off      int64
	obj      *s3Object
	failures int
}

func (r *s3Reader) Read(p []byte) (int, error) {
	for {
		n, err := r.obj.read(r.ctx, p)
		r.off += int64(n)
		if err == nil || n > 0 {
			return n, nil
		}
		if errors.Is(err, io.EOF) {
			if r.off != r.size {
				return 0, fmt.Errorf("s3 get s3://%s/%s: %w at %d of %d bytes", r.s.bucket, r.s.objKey(r.key), io.ErrUnexpectedEOF, r.off, r.size)
			}
			return 0, io.EOF
		}
		if err := r.resume(err); err != nil {
			return 0, err
		}
	}
}

// resume reopens the object at the current offset after cause, while
// the error is transient and attempts remain.
func (r *s3Reader) resume(cause error) error {
	r.obj.Close()
	for {
		r.failures++
		if !retryable(cause) || r.failures >= r.s.cfg.MaxAttempts || r.ctx.Err() != nil {
			return r.s.opErr("get", r.key, cause, r.failures)
		}
		t := time.NewTimer(r.s.backoff(r.failures))
		select {
		case <-r.ctx.Done():
			t.Stop()
			return r.s.opErr("get", r.key, joinCtx(r.ctx.Err(), cause), r.failures)
		case <-t.C:
		}
		obj, _, err := r.s.openAt(r.ctx, r.key, r.off, r.etag)
		if err == nil {
			r.obj = obj
			return nil
		}
		cause = err
	}
}

func (r *s3Reader) Close() error { return r.obj.Close() }
