package storage

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// putCreateOnce uploads a body larger than one part as a multipart upload
// whose completion carries If-None-Match: * (minio-go's PutObject drops
// conditional headers from CompleteMultipartUpload, so a create-once
// multipart upload is driven part by part here). The upload is aborted
// when it fails.
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
		_ = core.AbortMultipartUpload(actx, s.bucket, s.objKey(key), id)
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
