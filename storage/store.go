package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// Errors of every Store.
var (
	// ErrNotFound: no object has the key.
	ErrNotFound = errors.New("object not found")
	// ErrInvalidKey: the key is not a clean relative slash path.
	ErrInvalidKey = errors.New("invalid object key")
	// ErrNotSupported: the URL names a store this build cannot open yet.
	ErrNotSupported = errors.New("not supported yet")
	// ErrExists: a create-only PutObject (PutOptions.IfAbsent) found the
	// key taken.
	ErrExists = errors.New("object already exists")
	// ErrUnavailable: the store's endpoint failed for a reason that may go
	// away (down, hung, throttling) through all of an operation's tries;
	// Transient reports it.
	ErrUnavailable = errors.New("store unavailable")
)

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
	// SHA256 is the hex SHA-256 of the content: PutObject and Stat fill
	// it in (S3: the x-amz-meta-sha256 recorded at upload, "" for objects
	// other tools wrote; local: hashed by Stat); List leaves it empty.
	SHA256 string
}

// PutOptions modify PutObject.
type PutOptions struct {
	// IfAbsent creates the object only if the key is free (S3:
	// If-None-Match: *); a taken key fails with ErrExists. A retry that
	// finds the very bytes it was writing (same SHA-256) succeeds.
	IfAbsent bool
	// ContentType is recorded where the store keeps it (S3).
	ContentType string
}

// Store is an object store as this package's readers and writers use it.
// Keys are slash-separated relative paths ("00042/000002688.png"); "."
// and ".." elements, empty elements, backslashes and leading or trailing
// slashes are rejected with ErrInvalidKey. A Put is atomic: readers see
// the old object or the whole new one, never a part.
type Store interface {
	// Put stores r's bytes under key and returns how many were written.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// PutObject is Put with options; it returns the stored object's
	// size and SHA-256. Readers that are io.ReaderAt + io.Seeker
	// (*os.File, *bytes.Reader, *io.SectionReader, or an *io.LimitedReader
	// over one) are uploaded without a copy; other readers are spooled
	// first (S3), so a failed upload can be retried.
	PutObject(ctx context.Context, key string, r io.Reader, opts PutOptions) (ObjectInfo, error)
	// Get opens the object (ErrNotFound when absent).
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat describes the object (ErrNotFound when absent).
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List yields the objects whose keys start with prefix.
	List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error]
	// Delete removes the object; deleting an absent object is no error.
	Delete(ctx context.Context, key string) error
	// Copy stores the object src under dst too, atomically like Put
	// (S3: a server-side copy keeping the recorded SHA-256; local: a hard
	// link renamed into place), and returns dst's size and SHA-256
	// (ErrNotFound when src is absent).
	Copy(ctx context.Context, src, dst string) (ObjectInfo, error)
	// Close releases the store.
	Close() error
}

// CheckKey returns ErrInvalidKey (wrapped, naming the key) unless key is
// a clean relative slash path.
func CheckKey(key string) error {
	if key == "" || key == "." || !fs.ValidPath(key) || strings.ContainsAny(key, "\\\x00") {
		return fmt.Errorf("%w %q: want a relative slash path without . or .. elements", ErrInvalidKey, key)
	}
	return nil
}

// checkPrefix accepts "" or a key, optionally with a trailing slash.
func checkPrefix(prefix string) error {
	p := strings.TrimSuffix(prefix, "/")
	if p == "" && prefix != "/" {
		return nil
	}
	if err := CheckKey(p); err != nil {
		return fmt.Errorf("list prefix: %w", err)
	}
	return nil
}

// Open opens the store a URL names, rooted at the URL: file:///dir, a
// plain path (created if missing), or s3://bucket/prefix with the
// endpoint and credentials of S3ConfigFromEnv (see OpenS3).
func Open(ctx context.Context, rawURL string) (Store, error) { return OpenLogged(ctx, rawURL, nil) }

// OpenLogged is Open with S3's retry warnings going to log (nil: none):
// a daemon's operators should see an endpoint failing before its
// operations run out of tries.
func OpenLogged(ctx context.Context, rawURL string, log *slog.Logger) (Store, error) {
	if IsS3URL(rawURL) {
		cfg := S3ConfigFromEnv()
		cfg.Logger = log
		return OpenS3(ctx, rawURL, cfg)
	}
	dir, err := LocalPath(rawURL)
	if err != nil {
		return nil, err
	}
	return NewLocal(dir)
}

// LocalPath returns the directory or file a file:// URL or plain path
// names; other schemes are errors (s3:// wraps ErrNotSupported).
func LocalPath(rawURL string) (string, error) {
	if rawURL == "" {
		return "", errors.New("empty storage URL")
	}
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok {
		return filepath.Clean(rawURL), nil
	}
	switch strings.ToLower(scheme) {
	case "file":
		u, err := url.Parse(rawURL)
		if err != nil {
			return "", fmt.Errorf("storage URL %q: %w", rawURL, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return "", fmt.Errorf("storage URL %q: file URLs name a local path (file:///dir), not host %q", rawURL, u.Host)
		}
		if u.Path == "" {
			return "", fmt.Errorf("storage URL %q has no path", rawURL)
		}
		return filepath.FromSlash(u.Path), nil
	case "s3":
		return "", fmt.Errorf("storage URL %q: an s3 URL names no local path: %w", rawURL, ErrNotSupported)
	}
	return "", fmt.Errorf("storage URL %q: unknown scheme %q (want file:// or a path)", rawURL, scheme)
}

// OpenObject opens the single object a URL names (a prompt file, say).
func OpenObject(ctx context.Context, rawURL string) (io.ReadCloser, error) {
	if IsS3URL(rawURL) {
		return openS3Object(ctx, rawURL, S3ConfigFromEnv())
	}
	p, err := LocalPath(rawURL)
	if err != nil {
		return nil, err
	}
	s, err := openLocal(filepath.Dir(p))
	if err != nil {
		return nil, err
	}
	r, err := s.Get(ctx, filepath.Base(p))
	if err != nil {
		s.Close()
		return nil, err
	}
	return &closeBoth{ReadCloser: r, store: s}, nil
}

type closeBoth struct {
	io.ReadCloser
	store Store
}

func (c *closeBoth) Close() error {
	err := c.ReadCloser.Close()
	return errors.Join(err, c.store.Close())
}
