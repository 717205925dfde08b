package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sanafarm/sanafarm/internal/diskroom"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// A model mirror (for clusters without internet) holds pipeline folders
// at <name>/<revision>/<file> under its URL (s3://bucket/models/...), where
// name is the Hugging Face repo id ("Efficient-Large-Model/Sana_...") or
// "sana-tiny", and <name>/<revision>/sanafarm-mirror.json, written last,
// lists every file with its size and SHA-256. `sanafarm models push`
// fills it; a ModelResolver with Mirror set downloads from it.

// MirrorManifestName is the manifest object of a mirrored snapshot.
const MirrorManifestName = "sanafarm-mirror.json"

// MirrorManifest lists a mirrored snapshot.
type MirrorManifest struct {
	Name     string       `json:"name"`
	Revision string       `json:"revision"`
	Files    []MirrorFile `json:"files"`
}

// MirrorFile is one file of a mirrored snapshot.
type MirrorFile struct {
	Path   string `json:"path"` // slash path inside the pipeline folder
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// MirrorName is where a preset lives in a mirror: its repo and revision,
// or sana-tiny and the tiny model's version.
func MirrorName(p protocol.Preset) (name, rev string) {
	if p.Repo == "" {
		return p.Name, strings.TrimPrefix(TinyDirName, "sana-tiny-")
	}
	return p.Repo, pick(p.Revision, "main")
}

func mirrorPrefix(name, rev string) (string, error) {
	p := name + "/" + rev
	if err := storage.CheckKey(p); err != nil {
		return "", fmt.Errorf("model mirror name %s@%s: %w", name, rev, err)
	}
	return p, nil
}

// PushModel uploads the pipeline folder dir (symlinks followed, as in a
// Hugging Face snapshot) to store under <name>/<rev>/, skipping files the
// mirror already holds with the same SHA-256, and writes the manifest
// last. progress (may be nil) hears of each file.
func PushModel(ctx context.Context, store storage.Store, dir, name, rev string, progress func(f MirrorFile, skipped bool)) (MirrorManifest, error) {
	prefix, err := mirrorPrefix(name, rev)
	if err != nil {
		return MirrorManifest{}, err
	}
	files, err := listFolder(dir)
	if err != nil {
		return MirrorManifest{}, err
	}
	m := MirrorManifest{Name: name, Revision: rev}
	for _, rel := range files {
		f, skipped, err := pushFile(ctx, store, filepath.Join(dir, filepath.FromSlash(rel)), prefix, rel)
		if err != nil {
			return m, err
		}
		m.Files = append(m.Files, f)
		if progress != nil {
			progress(f, skipped)
		}
	}
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	if _, err := store.Put(ctx, prefix+"/"+MirrorManifestName, bytes.NewReader(append(js, '\n'))); err != nil {
		return m, fmt.Errorf("pushing the manifest of %s@%s: %w", name, rev, err)
	}
	return m, nil
}

// AbortModelUploads aborts the multipart uploads left open under the
// mirror's <name>/<rev>/ and returns how many: a push killed or cut off
// mid-file leaves its upload's parts stored, unlisted and billed (only the
// module's own bucket aborts them after a day). Run after a push of the
// same revision completed, anything still open there is such a leftover
// (or a concurrent push of the same files, which then fails and is run
// again). A store without multipart uploads has none.
func AbortModelUploads(ctx context.Context, store storage.Store, name, rev string) (int, error) {
	prefix, err := mirrorPrefix(name, rev)
	if err != nil {
		return 0, err
	}
	a, ok := store.(storage.UploadAborter)
	if !ok {
		return 0, nil
	}
	n, err := a.AbortUploads(ctx, prefix+"/")
	if err != nil {
		return n, fmt.Errorf("aborting the uploads left open under %s@%s: %w", name, rev, err)
	}
	return n, nil
}

// listFolder returns the slash paths of dir's files, sorted, skipping
// hidden ones (temporary files, .cache).
func listFolder(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		st, err := os.Stat(p) // follows snapshot symlinks
		if err != nil || st.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err == nil {
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing model folder %s: %w", dir, err)
	}
	if !slices.Contains(out, "model_index.json") {
		return nil, fmt.Errorf("model folder %s has no model_index.json (not a diffusers pipeline)", dir)
	}
	slices.Sort(out)
	return out, nil
}

func pushFile(ctx context.Context, store storage.Store, file, prefix, rel string) (MirrorFile, bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return MirrorFile{}, false, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return MirrorFile{}, false, fmt.Errorf("reading %s: %w", file, err)
	}
	mf := MirrorFile{Path: rel, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	key := prefix + "/" + rel
	if st, err := store.Stat(ctx, key); err == nil && st.Size == mf.Size && st.SHA256 == mf.SHA256 {
		return mf, true, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return mf, false, err
	}
	info, err := store.PutObject(ctx, key, f, storage.PutOptions{})
	if err != nil {
		return mf, false, fmt.Errorf("pushing %s: %w", file, err)
	}
	if info.SHA256 != mf.SHA256 || info.Size != mf.Size {
		return mf, false, fmt.Errorf("pushing %s: the file changed while it was uploaded", file)
	}
	return mf, false, nil
}

// FetchModel downloads the mirrored snapshot <name>/<rev> into dest (a
// temporary sibling renamed into place, so dest is complete or absent),
// checking every file's size and SHA-256 against the manifest. A mirror
// without the snapshot gives storage.ErrNotFound. Its bytes must be within
// limit and fit on dest's disk with what room's other downloads still
// have to write.
func FetchModel(ctx context.Context, store storage.Store, name, rev, dest string, limit int64, room *diskroom.Ledger) (MirrorManifest, error) {
	m, err := readMirrorManifest(ctx, store, name, rev)
	if err != nil {
		return m, err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return m, err
	}
	var need int64
	for _, f := range m.Files {
		need += f.Size // each is ≥ 0 and the sum cannot wrap (readMirrorManifest)
	}
	hold, err := room.Take(fmt.Sprintf("model mirror %s@%s (%d files)", name, rev, len(m.Files)), dest, need, limit)
	if err != nil {
		return m, err
	}
	defer hold.Release()
	tmp, err := os.MkdirTemp(filepath.Dir(dest), ".mirror-*")
	if err != nil {
		return m, err
	}
	defer os.RemoveAll(tmp)
	prefix, _ := mirrorPrefix(name, rev)
	for _, f := range m.Files {
		if err := fetchFile(ctx, store, prefix, f, tmp, hold); err != nil {
			return m, fmt.Errorf("model mirror %s@%s: %w", name, rev, err)
		}
	}
	js, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(tmp, MirrorManifestName), js, 0o644); err != nil {
		return m, err
	}
	if err := os.Rename(tmp, dest); err != nil && !mirrorComplete(dest) {
		return m, fmt.Errorf("model mirror %s@%s: %w", name, rev, err)
	}
	return m, nil
}

// maxMirrorFile bounds a mirror file's size and the manifest's total, so
// sums cannot wrap (16 EiB is far past any model; the download bound and
// the free-space check are what refuse a large one).
const maxMirrorFile = 1 << 60

func readMirrorManifest(ctx context.Context, store storage.Store, name, rev string) (MirrorManifest, error) {
	var m MirrorManifest
	prefix, err := mirrorPrefix(name, rev)
	if err != nil {
		return m, err
	}
	rc, err := store.Get(ctx, prefix+"/"+MirrorManifestName)
	if err != nil {
		return m, fmt.Errorf("model mirror %s@%s: %w", name, rev, err)
	}
	defer rc.Close()
	return decodeMirrorManifest(rc, name, rev)
}

// decodeMirrorManifest reads a manifest (at most 16 MiB) and checks every
// entry: a key inside the model's folder, a sha256, a size that no sum
// can wrap.
func decodeMirrorManifest(r io.Reader, name, rev string) (MirrorManifest, error) {
	var m MirrorManifest
	if err := json.NewDecoder(io.LimitReader(r, 16<<20)).Decode(&m); err != nil {
		return m, fmt.Errorf("model mirror %s@%s: bad manifest: %w", name, rev, err)
	}
	var total int64
	for _, f := range m.Files {
		if storage.CheckKey(f.Path) != nil || f.Path == MirrorManifestName || len(f.SHA256) != 64 || f.Size < 0 || f.Size > maxMirrorFile {
			return m, fmt.Errorf("model mirror %s@%s: bad manifest entry %q (%d bytes)", name, rev, f.Path, f.Size)
		}
		if total += f.Size; total > maxMirrorFile {
			return m, fmt.Errorf("model mirror %s@%s: the manifest's files add up to more than %d bytes", name, rev, int64(maxMirrorFile))
		}
	}
	return m, nil
}

// fetchFile downloads one file into dir, checking size and SHA-256, and
// takes what it wrote off hold.
func fetchFile(ctx context.Context, store storage.Store, prefix string, f MirrorFile, dir string, hold *diskroom.Hold) error {
	key := prefix + "/" + f.Path
	if st, err := store.Stat(ctx, key); err != nil {
		return err
	} else if st.Size != f.Size || (st.SHA256 != "" && st.SHA256 != f.SHA256) {
		return fmt.Errorf("%s: stored object (%d bytes, sha256 %q) is not the manifest's (%d bytes, %s)", key, st.Size, st.SHA256, f.Size, f.SHA256)
	}
	rc, err := store.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	p := filepath.Join(dir, filepath.FromSlash(f.Path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	out, err := os.Create(p)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h, heldWriter{hold}), rc)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != f.Size || sum != f.SHA256 {
		return fmt.Errorf("%s: downloaded %d bytes with sha256 %s, the manifest says %d bytes, %s", key, n, sum, f.Size, f.SHA256)
	}
	return nil
}

// heldWriter tells a hold about bytes written beside it.
type heldWriter struct{ h *diskroom.Hold }

func (w heldWriter) Write(p []byte) (int, error) {
	w.h.Wrote(int64(len(p)))
	return len(p), nil
}

// mirrorComplete reports whether dir is a finished mirror download.
func mirrorComplete(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, MirrorManifestName))
	return err == nil
}

// errNoMirror: the mirror does not have the model.
func isMirrorMiss(err error) bool { return errors.Is(err, storage.ErrNotFound) }
