package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path"
	"strings"
	"time"
)

// tmpPrefix starts the names of files being written; List skips them.
const tmpPrefix = ".sanafarm-tmp-"

// Local is a Store in a local directory. Every operation goes through an
// os.Root, so no key (nor a symlink inside the directory) reaches outside
// it. Put writes a temporary file in the store's temporary folder
// (tmpDir, locked while written), syncs it and renames it into place;
// NewLocal removes the temporary files no live writer holds (a killed
// writer's), and Close removes the folder when it is empty.
type Local struct {
	root *os.Root
	dir  string
}

var _ Store = (*Local)(nil)

// NewLocal opens (creating if needed) a directory store.
func NewLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("opening local store: %w", err)
	}
	l, err := openLocal(dir)
	if err != nil {
		return nil, err
	}
	l.sweepTemp()
	return l, nil
}

func openLocal(dir string) (*Local, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening local store: %w", err)
	}
	return &Local{root: root, dir: dir}, nil
}

// Dir is the store's directory.
func (l *Local) Dir() string { return l.dir }

// Close removes the temporary folder if it is empty and releases the
// directory.
func (l *Local) Close() error {
	_ = l.root.Remove(tmpDir) // fails while another writer uses it: fine
	return l.root.Close()
}

// Put atomically stores r's bytes under key.
func (l *Local) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	info, err := l.PutObject(ctx, key, r, PutOptions{})
	return info.Size, err
}

// PutObject atomically stores r's bytes under key (a temporary file
// renamed into place; with opts.IfAbsent hard-linked into place, which
// fails with ErrExists when the key is taken) and returns their SHA-256.
func (l *Local) PutObject(ctx context.Context, key string, r io.Reader, opts PutOptions) (ObjectInfo, error) {
	if err := checkWriteKey(key); err != nil {
		return ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, err
	}
	tmp, f, err := l.createTemp(path.Base(key))
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("storing %s: %w", l.name(key), err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx: ctx, r: r})
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		// Placed while the file is still open (and locked), so a sweep
		// by another store never takes it for a dead writer's.
		err = l.place(tmp, key, opts.IfAbsent)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = l.root.Remove(tmp)
		return ObjectInfo{}, fmt.Errorf("storing %s: %w", l.name(key), err)
	}
	return ObjectInfo{Key: key, Size: n, ModTime: time.Now(), SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// place moves the temporary file tmp to key (creating key's folder):
// a rename, or with ifAbsent a hard link that fails with ErrExists when
// key is taken. A folder removed meanwhile (an emptied prefix being
// pruned) is made again.
func (l *Local) place(tmp, key string, ifAbsent bool) error {
	var err error
	for range 3 {
		if dir := path.Dir(key); dir != "." {
			if err = l.root.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		if ifAbsent {
			err = l.root.Link(tmp, key)
			if errors.Is(err, fs.ErrExist) {
				return ErrExists
			}
			if err == nil {
				_ = l.root.Remove(tmp)
				return nil
			}
		} else if err = l.root.Rename(tmp, key); err == nil {
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if _, serr := l.root.Stat(tmp); serr != nil {
			return err // the temporary file itself is gone
		}
	}
	return err
}

// Get opens the object.
func (l *Local) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := l.root.Open(key)
	if err != nil {
		return nil, l.mapErr(key, err)
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%w: %s is a directory", ErrNotFound, l.name(key))
	}
	return f, nil
}

// Stat describes the object.
func (l *Local) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := CheckKey(key); err != nil {
		return ObjectInfo{}, err
	}
	st, err := l.root.Stat(key)
	if err != nil {
		return ObjectInfo{}, l.mapErr(key, err)
	}
	if st.IsDir() {
		return ObjectInfo{}, fmt.Errorf("%w: %s is a directory", ErrNotFound, l.name(key))
	}
	sum, err := l.hash(ctx, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	return ObjectInfo{Key: key, Size: st.Size(), ModTime: st.ModTime(), SHA256: sum}, nil
}

// hash reads the object to compute its SHA-256 (Stat's; the local store
// keeps no metadata).
func (l *Local) hash(ctx context.Context, key string) (string, error) {
	f, err := l.root.Open(key)
	if err != nil {
		return "", l.mapErr(key, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx: ctx, r: f}); err != nil {
		return "", fmt.Errorf("reading %s: %w", l.name(key), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Delete removes the object.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	err := l.root.Remove(key)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting %s: %w", l.name(key), err)
	}
	// Folders left empty go too, as in an object store (a Put racing
	// with this makes its folder again: see place).
	for dir := path.Dir(key); dir != "." && l.root.Remove(dir) == nil; dir = path.Dir(dir) {
	}
	return nil
}

// List yields the objects under prefix, sorted by name within each
// directory (a walk of the deepest directory the prefix names; temporary
// files are skipped).
func (l *Local) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		if err := checkPrefix(prefix); err != nil {
			yield(ObjectInfo{}, err)
			return
		}
		start := "."
		if i := strings.LastIndex(prefix, "/"); i > 0 {
			start = prefix[:i]
		}
		err := fs.WalkDir(l.root.FS(), start, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && p == start {
					return fs.SkipAll
				}
				return err
			}
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			return l.visit(p, d, prefix, yield)
		})
		if err != nil && !errors.Is(err, errStop) {
			yield(ObjectInfo{}, fmt.Errorf("listing %s: %w", l.name(prefix), err))
		}
	}
}

var errStop = errors.New("stop")

func (l *Local) visit(p string, d fs.DirEntry, prefix string, yield func(ObjectInfo, error) bool) error {
	if d.IsDir() {
		if p == tmpDir {
			return fs.SkipDir
		}
		if p != "." && !strings.HasPrefix(p+"/", prefix) && !strings.HasPrefix(prefix, p+"/") {
			return fs.SkipDir
		}
		return nil
	}
	if strings.HasPrefix(d.Name(), tmpPrefix) || !strings.HasPrefix(p, prefix) || !d.Type().IsRegular() {
		return nil
	}
	info, err := d.Info()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted while listing
		}
		return err
	}
	if !yield(ObjectInfo{Key: p, Size: info.Size(), ModTime: info.ModTime()}, nil) {
		return errStop
	}
	return nil
}

func (l *Local) name(key string) string { return path.Join(l.dir, key) }

func (l *Local) mapErr(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, l.name(key))
	}
	return fmt.Errorf("reading %s: %w", l.name(key), err)
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
