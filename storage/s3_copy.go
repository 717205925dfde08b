package storage

import (
	"cmp"
	"context"
	"fmt"

	"github.com/minio/minio-go/v7"
)

// maxCopyObject is the largest object one CopyObject request copies (the
// S3 limit); bigger ones are copied part by part (UploadPartCopy).
const maxCopyObject = 5 << 30

// Copy copies the object src to dst on the server (no bytes travel
// through this process), keeping its x-amz-meta-sha256, and returns dst's
// size and SHA-256. The copy is conditional on the source's ETag as Stat
// saw it, so the size and SHA-256 returned are those of the bytes copied.
func (s *S3) Copy(ctx context.Context, src, dst string) (ObjectInfo, error) {
	if err := checkS3Key(src); err != nil {
		return ObjectInfo{}, err
	}
	if err := checkS3Key(dst); err != nil {
		return ObjectInfo{}, err
	}
	if src == dst { // S3 refuses a copy onto itself that changes nothing
		return s.Stat(ctx, src)
	}
	var info ObjectInfo
	err := s.retry(ctx, "copy", src, func(int) error {
		var err error
		for range 3 { // the source replaced between stat and copy: again
			info, err = s.copyOnce(ctx, src, dst)
			if err == nil || !isPrecondition(err) {
				break
			}
		}
		return err
	})
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("%w (copying to s3://%s/%s)", err, s.bucket, s.objKey(dst))
	}
	return info, nil
}

func (s *S3) copyOnce(ctx context.Context, src, dst string) (ObjectInfo, error) {
	oi, err := s.client.StatObject(ctx, s.bucket, s.objKey(src), minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, err
	}
	sha := sha256Meta(oi)
	from := minio.CopySrcOptions{Bucket: s.bucket, Object: s.objKey(src), MatchETag: oi.ETag}
	to := minio.CopyDestOptions{Bucket: s.bucket, Object: s.objKey(dst)}
	var up minio.UploadInfo
	if oi.Size <= s.copyMax() {
		up, err = s.client.CopyObject(ctx, to, from) // metadata directive COPY
	} else {
		// A multipart copy does not carry metadata over: set it.
		// ComposeObject ignores CopyDestOptions.ContentType; a standard
		// header in UserMetadata is sent as is.
		to.UserMetadata = map[string]string{MetaSHA256: sha, "Content-Type": cmp.Or(oi.ContentType, ContentType(dst))}
		to.ReplaceMetadata = true
		to.PartSize = uint64(max(s.cfg.PartSize, 64<<20))
		up, err = s.client.ComposeObject(ctx, to, from)
	}
	if err != nil {
		return ObjectInfo{}, err
	}
	return ObjectInfo{Key: dst, Size: oi.Size, ModTime: up.LastModified, SHA256: sha}, nil
}

// copyMax is the largest object copied with one request (a test lowers
// it to exercise the multipart copy).
func (s *S3) copyMax() int64 {
	if s.copyLimit > 0 {
		return s.copyLimit
	}
	return maxCopyObject
}
