package storage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/minio/minio-go/v7"
)

// OpenObjectAt opens the single object a URL names (a prompt file) for
// reading from byte offset off, and returns the object's whole size:
// a local file is opened and seeked, an S3 object read with a ranged GET
// (after a HEAD for its size), so a reader near the end of a big file
// transfers only what it reads. An offset at or past the end reads
// nothing.
func OpenObjectAt(ctx context.Context, rawURL string, off int64) (io.ReadCloser, int64, error) {
	if off < 0 {
		return nil, 0, fmt.Errorf("opening %s at byte %d: negative offset", rawURL, off)
	}
	if IsS3URL(rawURL) {
		return openS3ObjectAt(ctx, rawURL, S3ConfigFromEnv(), off)
	}
	r, err := OpenObject(ctx, rawURL)
	if err != nil {
		return nil, 0, err
	}
	f, ok := r.(*closeBoth).ReadCloser.(*os.File)
	if !ok {
		r.Close()
		return nil, 0, fmt.Errorf("opening %s: not a regular file", rawURL)
	}
	st, err := f.Stat()
	if err == nil {
		_, err = f.Seek(off, io.SeekStart)
	}
	if err != nil {
		r.Close()
		return nil, 0, fmt.Errorf("opening %s at byte %d: %w", rawURL, off, err)
	}
	return r, st.Size(), nil
}

// openS3ObjectAt is OpenObjectAt for s3://bucket/key.
func openS3ObjectAt(ctx context.Context, rawURL string, cfg S3Config, off int64) (io.ReadCloser, int64, error) {
	bucket, key, err := ParseS3URL(rawURL)
	if err != nil {
		return nil, 0, err
	}
	if key == "" || strings.HasSuffix(rawURL, "/") {
		return nil, 0, fmt.Errorf("storage URL %q names no object", rawURL)
	}
	s, err := NewS3(cfg, bucket, "")
	if err != nil {
		return nil, 0, fmt.Errorf("opening %s: %w", rawURL, err)
	}
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	if off >= info.Size {
		return io.NopCloser(bytes.NewReader(nil)), info.Size, nil
	}
	var (
		obj *s3Object
		oi  minio.ObjectInfo
	)
	err = s.retry(ctx, "get", key, func(int) error {
		var err error
		obj, oi, err = s.openAt(ctx, key, off, "")
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return &s3Reader{s: s, ctx: ctx, key: key, etag: oi.ETag, size: info.Size, off: off, obj: obj}, info.Size, nil
}
