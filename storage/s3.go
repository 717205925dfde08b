package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// MetaSHA256 is the user-metadata name under which PutObject records the
// content's hex SHA-256 (sent as x-amz-meta-sha256).
const MetaSHA256 = "sha256"

// S3 is a Store in an S3 bucket under a key prefix, through minio-go.
// Keys map to objects "<prefix>/<key>". Every operation is retried on
// transient errors (see S3Config.MaxAttempts); uploads are single PUTs up
// to PartSize and multipart above, so an object appears whole or not at
// all. Safe for concurrent use.
type S3 struct {
	cfg    S3Config
	client *minio.Client
	bucket string
	prefix string // "" or a clean key without trailing slash
	host   string
	log    *slog.Logger
	// copyLimit overrides maxCopyObject (tests; 0: the S3 limit).
	copyLimit int64
}

var _ Store = (*S3)(nil)

// NewS3 returns a store for bucket/prefix; it makes no request (OpenS3
// also checks that the bucket is reachable).
func NewS3(cfg S3Config, bucket, prefix string) (*S3, error) {
	cfg = cfg.withDefaults()
	if err := checkBucket(bucket); err != nil {
		return nil, err
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix != "" {
		if err := CheckKey(prefix); err != nil {
			return nil, fmt.Errorf("s3 prefix: %w", err)
		}
	}
	cl, err := cfg.newClient()
	if err != nil {
		return nil, err
	}
	host, _, _ := cfg.endpoint()
	return &S3{cfg: cfg, client: cl, bucket: bucket, prefix: prefix, host: host, log: cfg.Logger}, nil
}

// OpenS3 opens the store s3://bucket/prefix names and checks (with
// retries) that the bucket exists and the credentials are accepted, so a
// wrong endpoint, bucket or key fails here with a clear error.
func OpenS3(ctx context.Context, rawURL string, cfg S3Config) (*S3, error) {
	bucket, prefix, err := ParseS3URL(rawURL)
	if err != nil {
		return nil, err
	}
	s, err := NewS3(cfg, bucket, prefix)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", rawURL, err)
	}
	if err := s.Check(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Check verifies that the bucket exists and is accessible.
func (s *S3) Check(ctx context.Context) error {
	var ok bool
	err := s.retry(ctx, "check bucket", "", func(int) error {
		var err error
		ok, err = s.client.BucketExists(ctx, s.bucket)
		return err
	})
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("s3 bucket %q does not exist at %s", s.bucket, s.host)
	}
	return nil
}

// openS3Object opens the single object s3://bucket/key names.
func openS3Object(ctx context.Context, rawURL string, cfg S3Config) (io.ReadCloser, error) {
	bucket, key, err := ParseS3URL(rawURL)
	if err != nil {
		return nil, err
	}
	if key == "" || strings.HasSuffix(rawURL, "/") {
		return nil, fmt.Errorf("storage URL %q names no object", rawURL)
	}
	s, err := NewS3(cfg, bucket, "")
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", rawURL, err)
	}
	return s.Get(ctx, key)
}

// Bucket and Prefix say where the store's objects are.
func (s *S3) Bucket() string { return s.bucket }

// Prefix is the key prefix ("" for the bucket's root).
func (s *S3) Prefix() string { return s.prefix }

// URL is s3://bucket/prefix.
func (s *S3) URL() string { return strings.TrimSuffix("s3://"+s.bucket+"/"+s.prefix, "/") }

// Close releases idle connections.
func (s *S3) Close() error {
	if t, ok := s.cfg.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	return nil
}

func (s *S3) objKey(key string) string {
	if s.prefix == "" {
		return key
	}
	if key == "" {
		return s.prefix + "/"
	}
	return s.prefix + "/" + key
}

func checkS3Key(key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if len(key) > maxS3KeyLen/2 {
		return fmt.Errorf("%w %q: longer than %d bytes", ErrInvalidKey, key, maxS3KeyLen/2)
	}
	return nil
}

// Put stores r's bytes under key (PutObject without options).
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	info, err := s.PutObject(ctx, key, r, PutOptions{})
	return info.Size, err
}

// PutObject uploads r's bytes, recording their SHA-256 as x-amz-meta-sha256.
// The whole upload is retried on transient errors; with opts.IfAbsent it
// is sent with If-None-Match: * and a taken key gives ErrExists, unless a
// retry finds the object this call itself stored (same SHA-256).
func (s *S3) PutObject(ctx context.Context, key string, r io.Reader, opts PutOptions) (ObjectInfo, error) {
	if err := checkS3Key(key); err != nil {
		return ObjectInfo{}, err
	}
	body, err := s.prepareBody(ctx, r)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("s3 put s3://%s/%s: reading the content: %w", s.bucket, s.objKey(key), err)
	}
	defer body.close()
	mo := minio.PutObjectOptions{
		UserMetadata: map[string]string{MetaSHA256: body.sha},
		ContentType:  cmp.Or(opts.ContentType, ContentType(key)),
		PartSize:     uint64(s.cfg.PartSize),
		NumThreads:   uint(s.cfg.Threads),
	}
	if opts.IfAbsent {
		mo.SetMatchETagExcept("*")
	}
	err = s.retry(ctx, "put", key, func(attempt int) error {
		err := s.putAttempt(ctx, key, body, mo, opts.IfAbsent)
		if err != nil && opts.IfAbsent && attempt > 1 && isPrecondition(err) {
			// An earlier attempt may have landed before its reply was lost.
			if st, serr := s.stat(ctx, key); serr == nil && st.SHA256 == body.sha && st.Size == body.size {
				return nil
			}
		}
		return err
	})
	if err != nil {
		return ObjectInfo{}, err
	}
	return ObjectInfo{Key: key, Size: body.size, ModTime: time.Now(), SHA256: body.sha}, nil
}

// putSingle sends one PUT signed with the content's SHA-256 (computed
// once, in prepareBody): the server checks the payload against it, so a
// body corrupted on the way is refused, and the client hashes nothing
// again (minio-go's default over plain HTTP signs every 64 KiB chunk).
// putAttempt is one try of PutObject, cancelled as stalled when no byte
// of the content is read for StallTimeout (s3_stall.go).
func (s *S3) putAttempt(ctx context.Context, key string, body *putBody, mo minio.PutObjectOptions, ifAbsent bool) error {
	gctx, g, release := newStallGuard(ctx, s.cfg.StallTimeout, true)
	defer release()
	b := body.guarded(g)
	var err error
	switch {
	case b.size <= s.cfg.PartSize:
		err = s.putSingle(gctx, key, b, mo)
	case ifAbsent:
		err = s.putCreateOnce(gctx, key, b, mo)
	default:
		_, err = s.client.PutObject(gctx, s.bucket, s.objKey(key), b.reader(), b.size, mo)
	}
	return stallErr(gctx, ctx, err)
}

func (s *S3) putSingle(ctx context.Context, key string, body *putBody, mo minio.PutObjectOptions) error {
	mo.DisableContentSha256 = true // use ours, no chunk signatures
	_, err := minio.Core{Client: s.client}.PutObject(ctx, s.bucket, s.objKey(key), body.reader(), body.size, "", body.sha, mo)
	return err
}

func isPrecondition(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.Code == "PreconditionFailed" || r.StatusCode == http.StatusPreconditionFailed
}

// Get opens the object for streaming. A read that fails on a transient
// error resumes where it stopped (a ranged GET of the same ETag).
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkS3Key(key); err != nil {
		return nil, err
	}
	var (
		obj  *s3Object
		info minio.ObjectInfo
	)
	err := s.retry(ctx, "get", key, func(int) error {
		var err error
		obj, info, err = s.openAt(ctx, key, 0, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return &s3Reader{s: s, ctx: ctx, key: key, etag: info.ETag, size: info.Size, obj: obj}, nil
}

// openAt starts a GET from offset off (of the object with etag, if set),
// under a stall guard armed while it waits for the response and during
// each read of the body (s3Object.read).
func (s *S3) openAt(ctx context.Context, key string, off int64, etag string) (*s3Object, minio.ObjectInfo, error) {
	var o minio.GetObjectOptions
	if off > 0 {
		if err := o.SetRange(off, 0); err != nil {
			return nil, minio.ObjectInfo{}, err
		}
	}
	if etag != "" {
		if err := o.SetMatchETag(etag); err != nil {
			return nil, minio.ObjectInfo{}, err
		}
	}
	gctx, g, release := newStallGuard(ctx, s.cfg.StallTimeout, true)
	obj, err := s.client.GetObject(gctx, s.bucket, s.objKey(key), o)
	if err != nil {
		release()
		return nil, minio.ObjectInfo{}, stallErr(gctx, ctx, err)
	}
	info, err := obj.Stat() // the request: waits for the response headers
	g.disarm()
	if err != nil {
		obj.Close()
		release()
		return nil, minio.ObjectInfo{}, stallErr(gctx, ctx, err)
	}
	return &s3Object{Object: obj, ctx: gctx, guard: g, release: release}, info, nil
}

// Stat describes the object, with the SHA-256 recorded at upload.
func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := checkS3Key(key); err != nil {
		return ObjectInfo{}, err
	}
	var info ObjectInfo
	err := s.retry(ctx, "stat", key, func(int) error {
		var err error
		info, err = s.stat(ctx, key)
		return err
	})
	return info, err
}

func (s *S3) stat(ctx context.Context, key string) (ObjectInfo, error) {
	oi, err := s.client.StatObject(ctx, s.bucket, s.objKey(key), minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, err
	}
	return ObjectInfo{Key: key, Size: oi.Size, ModTime: oi.LastModified, SHA256: sha256Meta(oi)}, nil
}

// sha256Meta is the x-amz-meta-sha256 an object was stored with ("" if
// none).
func sha256Meta(oi minio.ObjectInfo) string {
	sha := oi.Metadata.Get("X-Amz-Meta-" + MetaSHA256)
	if sha == "" {
		for k, v := range oi.UserMetadata {
			if strings.EqualFold(k, MetaSHA256) {
				sha = v
			}
		}
	}
	return sha
}

// Delete removes the object (absent objects are no error).
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkS3Key(key); err != nil {
		return err
	}
	return s.retry(ctx, "delete", key, func(int) error {
		err := s.client.RemoveObject(ctx, s.bucket, s.objKey(key), minio.RemoveObjectOptions{})
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil
		}
		return err
	})
}

// List yields the objects whose keys start with prefix, in key order,
// page by page (ListObjectsV2); a transient failure resumes after the
// last key yielded.
func (s *S3) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		if err := checkPrefix(prefix); err != nil {
			yield(ObjectInfo{}, err)
			return
		}
		full := s.objKey(prefix)
		if prefix == "" && s.prefix != "" {
			full = s.prefix + "/"
		}
		after := ""
		err := s.retry(ctx, "list", prefix, func(int) error {
			stopped, err := s.listPage(ctx, full, &after, yield)
			if stopped {
				return nil
			}
			return err
		})
		if err != nil {
			yield(ObjectInfo{}, err)
		}
	}
}

// errListStop ends a listing the consumer broke off.
var errListStop = errors.New("list stopped")

// listPage lists from *after on, advancing it; stopped reports that yield
// asked to stop.
func (s *S3) listPage(ctx context.Context, full string, after *string, yield func(ObjectInfo, error) bool) (stopped bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := minio.ListObjectsOptions{Prefix: full, Recursive: true, StartAfter: *after, MaxKeys: 1000}
	for o := range s.client.ListObjectsIter(ctx, s.bucket, opts) {
		if o.Err != nil {
			return false, o.Err
		}
		if strings.HasSuffix(o.Key, "/") {
			continue // a "directory" marker, no object of ours
		}
		*after = o.Key
		key := strings.TrimPrefix(o.Key, s.prefix+"/")
		if s.prefix == "" {
			key = o.Key
		}
		if !yield(ObjectInfo{Key: key, Size: o.Size, ModTime: o.LastModified}, nil) {
			return true, errListStop
		}
	}
	return false, ctx.Err()
}
