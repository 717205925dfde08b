package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// putCreateOnce uploads a body larger than one part as a multipart upload
// whose completion carries If-None-Match: * (minio-go's PutObject drops
// conditional headers from CompleteMultipartUpload, so a create-once
// multipart upload is driven part by part here). The upload is aborted
// when it fails, under a context of its own (a cancelled or stalled put's
// would not send the abort), as minio-go's PutObject does.
func (s *S3) putCreateOnce(ctx context.Context, key string, body *putBody, mo minio.PutObjectOptions) error {
	core := minio.Core{Client: s.client}
	// The condition goes on the completion only.
	init := minio.PutObjectOptions{UserMetadata: mo.UserMetadata, ContentType: mo.ContentType}
	id, err := core.NewMultipartUpload(ctx, s.bucket, s.objKey(key), init)
	if err != nil {
		return err
	}
	parts, err := s.uploadParts(ctx, core, key, id, body)
	if err == nil {
		complete := minio.PutObjectOptions{}
		complete.SetMatchETagExcept("*")
		_, err = core.CompleteMultipartUpload(ctx, s.bucket, s.objKey(key), id, parts, complete)
	}
	if err != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if aerr := core.AbortMultipartUpload(actx, s.bucket, s.objKey(key), id); aerr != nil {
			s.log.Warn("aborting a failed multipart upload; its parts stay until swept or the bucket's lifecycle rule",
				"bucket", s.bucket, "key", s.objKey(key), "err", aerr)
		}
	}
	return err
}

// uploadParts sends the body in PartSize parts, Threads at a time.
func (s *S3) uploadParts(ctx context.Context, core minio.Core, key, id string, body *putBody) ([]minio.CompletePart, error) {
	ps := s.cfg.PartSize
	n := int((body.size + ps - 1) / ps)
	parts := make([]minio.CompletePart, n)
	errs := make([]error, n)
	sem := make(chan struct{}, s.cfg.Threads)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			off := int64(i) * ps
			size := min(ps, body.size-off)
			part := io.NewSectionReader(body.ra, body.off+off, size)
			p, err := core.PutObjectPart(ctx, s.bucket, s.objKey(key), id, i+1, part, size, minio.PutObjectPartOptions{})
			parts[i], errs[i] = minio.CompletePart{PartNumber: i + 1, ETag: p.ETag}, err
		}()
	}
	wg.Wait()
	return parts, errors.Join(errs...)
}

// AbortUploads aborts every multipart upload still open under prefix and
// returns how many it aborted. A node killed mid-upload leaves its parts
// stored, unlisted and billed until someone aborts them (DeletePrefix
// calls this for a job's staging). Sweeping is best effort: a store that
// does not list uploads, or a policy that denies it, is logged and left
// to the bucket's lifecycle rule (deploy/terraform aborts them after a
// day), never failing the caller; other errors are returned.
func (s *S3) AbortUploads(ctx context.Context, prefix string) (int, error) {
	if err := checkPrefix(prefix); err != nil {
		return 0, err
	}
	full := s.objKey(prefix)
	if prefix == "" && s.prefix != "" {
		full = s.prefix + "/"
	}
	return s.abortUploads(ctx, full, func(string) bool { return true })
}

// AbortUploadsOf is AbortUploads for the uploads of exactly key (not of
// the keys it is a prefix of).
func (s *S3) AbortUploadsOf(ctx context.Context, key string) (int, error) {
	if err := checkS3Key(key); err != nil {
		return 0, err
	}
	full := s.objKey(key)
	return s.abortUploads(ctx, full, func(k string) bool { return k == full })
}

// abortUploads aborts the open uploads under full (a bucket key prefix)
// whose keys match.
func (s *S3) abortUploads(ctx context.Context, full string, match func(key string) bool) (int, error) {
	core := minio.Core{Client: s.client}
	lctx, cancel := context.WithCancel(ctx)
	uploads := s.client.ListIncompleteUploads(lctx, s.bucket, full, true)
	defer func() {
		cancel()
		for range uploads { // its lister blocks on each send until read, even cancelled
		}
	}()
	n := 0
	for u := range uploads {
		err := u.Err
		if err == nil && !match(u.Key) {
			continue
		}
		if err == nil {
			err = core.AbortMultipartUpload(ctx, s.bucket, u.Key, u.UploadID)
		}
		switch code := minio.ToErrorResponse(err).Code; {
		case err == nil:
			n++
		case code == "NoSuchUpload" || code == "NoSuchKey": // completed or aborted meanwhile (NoSuchKey: a bare 404)
		case code == "NotImplemented" || code == "AccessDenied" || code == "MethodNotAllowed":
			s.log.Warn("cannot abort the open multipart uploads here; the bucket's lifecycle rule must",
				"bucket", s.bucket, "prefix", full, "code", code)
			return n, nil
		default:
			return n, fmt.Errorf("s3 aborting the uploads under s3://%s/%s: %w", s.bucket, full, err)
		}
	}
	return n, nil
}
