package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"
)

// tmpDir is the folder, at the root of a local store, that holds the
// files being written (named tmpPrefix...). Keeping them in one folder
// makes a killed writer's leftovers cheap to find: NewLocal reads this
// one folder instead of walking the output.
const tmpDir = ".sanafarm-tmp"

// checkWriteKey is CheckKey, also refusing keys in the temporary folder.
func checkWriteKey(key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if key == tmpDir || strings.HasPrefix(key, tmpDir+"/") {
		return fmt.Errorf("%w %q: %s/ is the store's temporary folder", ErrInvalidKey, key, tmpDir)
	}
	return nil
}

// createTemp creates and locks a new temporary file for an object named
// base. The folder is made again if a Close removed it meanwhile.
func (l *Local) createTemp(base string) (string, *os.File, error) {
	for range 5 {
		if err := l.root.MkdirAll(tmpDir, 0o755); err != nil {
			return "", nil, err
		}
		name := tmpDir + "/" + tmpPrefix + base + "-" + randHex()
		f, err := l.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) || errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		if err := lockTemp(f, true); err != nil {
			f.Close()
			_ = l.root.Remove(name)
			return "", nil, fmt.Errorf("locking %s: %w", l.name(name), err)
		}
		return name, f, nil
	}
	return "", nil, errors.New("cannot create a temporary file")
}

// SweepTemp removes the temporary files of writers that are gone (a node
// killed mid-write): those no open writer holds locked (on systems
// without file locks: not modified for staleTempAge). It returns how
// many it removed. NewLocal calls it.
func (l *Local) SweepTemp() (int, error) {
	d, err := l.root.Open(tmpDir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sweeping %s: %w", l.name(tmpDir), err)
	}
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return 0, fmt.Errorf("sweeping %s: %w", l.name(tmpDir), err)
	}
	n := 0
	for _, e := range ents {
		name := tmpDir + "/" + e.Name()
		if !strings.HasPrefix(e.Name(), tmpPrefix) || !e.Type().IsRegular() || !l.orphan(name, e) {
			continue
		}
		if err := l.root.Remove(name); err == nil {
			n++
		}
	}
	return n, nil
}

func (l *Local) sweepTemp() { _, _ = l.SweepTemp() }

// orphan reports whether no live writer holds the temporary file name.
func (l *Local) orphan(name string, e fs.DirEntry) bool {
	if !canLock {
		info, err := e.Info()
		return err == nil && time.Since(info.ModTime()) > staleTempAge
	}
	f, err := l.root.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	return lockTemp(f, false) == nil
}

// staleTempAge is when a temporary file counts as abandoned where files
// cannot be locked.
const staleTempAge = time.Hour

// Copy stores the object src under dst as well (atomically, like Put): a
// hard link renamed into place, or a copy of the bytes where the file
// system has no hard links. It returns dst's size and SHA-256.
func (l *Local) Copy(ctx context.Context, src, dst string) (ObjectInfo, error) {
	if err := CheckKey(src); err != nil {
		return ObjectInfo{}, err
	}
	if err := checkWriteKey(dst); err != nil {
		return ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, err
	}
	st, err := l.root.Stat(src)
	if err != nil {
		return ObjectInfo{}, l.mapErr(src, err)
	}
	if !st.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("%w: %s is not a file", ErrNotFound, l.name(src))
	}
	if src != dst {
		if err := l.link(ctx, src, dst); err != nil {
			return ObjectInfo{}, err
		}
	}
	return l.Stat(ctx, dst)
}

// link places a hard link of src (or, failing that, a copy) at dst. A
// link is unlocked, so a sweep may take it between the link and the
// rename: then it is made again.
func (l *Local) link(ctx context.Context, src, dst string) error {
	var err error
	for range 3 {
		if err = l.root.MkdirAll(tmpDir, 0o755); err != nil {
			break
		}
		tmp := tmpDir + "/" + tmpPrefix + path.Base(dst) + "-" + randHex()
		if err = l.root.Link(src, tmp); err != nil {
			if _, serr := l.root.Stat(src); serr != nil {
				return l.mapErr(src, serr)
			}
			if errors.Is(err, fs.ErrNotExist) {
				continue // the folder was removed meanwhile
			}
			return l.copyBytes(ctx, src, dst)
		}
		if err = l.place(tmp, dst, false); err == nil {
			// When dst already is a link of src (an attempt published by
			// its node and again by the leader), rename(2) succeeds without
			// doing anything and tmp stays: remove it (gone otherwise).
			_ = l.root.Remove(tmp)
			return nil
		}
		_ = l.root.Remove(tmp)
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	return fmt.Errorf("copying %s to %s: %w", l.name(src), l.name(dst), err)
}

func randHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// copyBytes stores src's bytes under dst as Put does (for file systems
// without hard links).
func (l *Local) copyBytes(ctx context.Context, src, dst string) error {
	in, err := l.root.Open(src)
	if err != nil {
		return l.mapErr(src, err)
	}
	defer in.Close()
	_, err = l.PutObject(ctx, dst, in, PutOptions{})
	return err
}
