package hub

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	commitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)
	sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	repoRE   = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// isCommit reports whether rev is a full 40-hex commit hash.
func isCommit(rev string) bool { return commitRE.MatchString(rev) }

// checkRepo validates a model repo id such as "org/name".
func checkRepo(repo string) error {
	if !repoRE.MatchString(repo) || strings.Contains(repo, "--") || strings.Contains(repo, "..") {
		return fmt.Errorf("invalid repo id %q: want org/name", repo)
	}
	return nil
}

// checkRevision rejects revisions that could escape the refs folder.
func checkRevision(rev string) error {
	if rev == "" || strings.HasPrefix(rev, "/") || strings.Contains(rev, "\\") {
		return fmt.Errorf("invalid revision %q", rev)
	}
	for _, part := range strings.Split(rev, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("invalid revision %q", rev)
		}
	}
	return nil
}

// checkRepoPath validates a repo-relative file path from outside data (the
// API, an index file, a cache walk): slash-separated, relative, clean.
func checkRepoPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") ||
		path.Clean(p) != p || p == "." || p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("invalid file path %q", p)
	}
	return nil
}

// repoCache is one repo's folder in the hub cache.
type repoCache struct {
	root string // hub cache root
	repo string // org/name
	dir  string // root/models--org--name
}

func (c *Client) repoCache(repo string) repoCache {
	folder := "models--" + strings.ReplaceAll(repo, "/", "--")
	return repoCache{root: c.cacheDir, repo: repo, dir: filepath.Join(c.cacheDir, folder)}
}

func (rc repoCache) blobPath(etag string) string { return filepath.Join(rc.dir, "blobs", etag) }

// partial is how much of f an earlier, interrupted download left in its
// blob's .incomplete file (LFS files, whose etag is their sha256: the
// large ones; 0 when unknown), which a resumed download need not fetch.
func (rc repoCache) partial(f File) int64 {
	if len(f.SHA256) != 64 {
		return 0
	}
	st, err := os.Stat(rc.blobPath(f.SHA256) + ".incomplete")
	if err != nil {
		return 0
	}
	return st.Size()
}

func (rc repoCache) snapshotDir(commit string) string {
	return filepath.Join(rc.dir, "snapshots", commit)
}

func (rc repoCache) pointerPath(commit, file string) string {
	return filepath.Join(rc.snapshotDir(commit), filepath.FromSlash(file))
}

func (rc repoCache) lockPath(etag string) string {
	return filepath.Join(rc.root, ".locks", filepath.Base(rc.dir), etag+".lock")
}

// readRef returns the commit a revision pointed to when last seen, or "".
func (rc repoCache) readRef(rev string) (string, error) {
	b, err := os.ReadFile(filepath.Join(rc.dir, "refs", filepath.FromSlash(rev)))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading cached ref %s of %s: %w", rev, rc.repo, err)
	}
	commit := strings.TrimSpace(string(b))
	if !isCommit(commit) {
		return "", fmt.Errorf("cached ref %s of %s holds %q, not a commit hash", rev, rc.repo, commit)
	}
	return commit, nil
}

// writeRef records that rev points at commit, as huggingface_hub does: the
// bare hash without a newline, only when rev is not itself the commit.
func (rc repoCache) writeRef(rev, commit string) error {
	if rev == commit {
		return nil
	}
	if old, err := rc.readRef(rev); err == nil && old == commit {
		return nil
	}
	p := filepath.Join(rc.dir, "refs", filepath.FromSlash(rev))
	if err := writeFileAtomic(p, []byte(commit)); err != nil {
		return fmt.Errorf("writing ref %s of %s: %w", rev, rc.repo, err)
	}
	return nil
}

// hasPointer reports whether the snapshot holds file and it resolves to a
// readable regular file (a dangling symlink does not count).
func (rc repoCache) hasPointer(commit, file string) (int64, bool) {
	st, err := os.Stat(rc.pointerPath(commit, file))
	if err != nil || !st.Mode().IsRegular() {
		return 0, false
	}
	return st.Size(), true
}

// link points snapshots/{commit}/{file} at blobs/{etag} with a relative
// symlink, replacing whatever was there.
func (rc repoCache) link(commit, file, etag string) error {
	dst := rc.pointerPath(commit, file)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("creating snapshot folder for %s in %s: %w", file, rc.repo, err)
	}
	rel, err := filepath.Rel(filepath.Dir(dst), rc.blobPath(etag))
	if err != nil {
		return fmt.Errorf("linking %s of %s: %w", file, rc.repo, err)
	}
	tmp := fmt.Sprintf("%s.%d-%d.tmp", dst, os.Getpid(), rand.Uint64())
	if err := os.Symlink(rel, tmp); err != nil {
		return fmt.Errorf("linking %s of %s: %w", file, rc.repo, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("linking %s of %s: %w", file, rc.repo, err)
	}
	return nil
}

// listSnapshot returns the repo-relative paths of the readable files in a
// cached snapshot, with their sizes.
func (rc repoCache) listSnapshot(commit string) (map[string]int64, error) {
	root := rc.snapshotDir(commit)
	files := map[string]int64{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasSuffix(p, ".tmp") {
			return nil
		}
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() {
			return nil // dangling link or special file: not cached
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = st.Size()
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing cached snapshot %s of %s: %w", commit, rc.repo, err)
	}
	return files, nil
}

// writeFileAtomic writes data to p through a temporary file and a rename.
func writeFileAtomic(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-"+filepath.Base(p)+"-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	return nil
}
