package hub

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// VerifySnapshot re-hashes the files of a cached snapshot folder
// (snapshots/{commit}) whose blobs are named by their SHA-256 (LFS files:
// the weights) and removes each one that no longer matches — its blob and
// its link — so that the next download fetches it again. Files whose blob
// name is no SHA-256 (small git files) are not checked. It returns the
// repo paths removed. A node calls it when a cached model fails to load:
// a disk that lost or flipped bytes, or a hand that edited the cache,
// would otherwise fail every shard the node takes. Only links into the
// repo's own blobs folder ({repo}/blobs, beside snapshots/) are followed:
// a link elsewhere is neither hashed nor removed.
func VerifySnapshot(dir string) ([]string, error) {
	blobs := filepath.Join(filepath.Dir(filepath.Dir(filepath.Clean(dir))), "blobs")
	var removed []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		etag := filepath.Base(target)
		if !sha256RE.MatchString(etag) || filepath.Dir(target) != blobs {
			return nil // not a blob of this repo named by its digest: leave it
		}
		ok, err := hasSHA256(target, etag)
		if errors.Is(err, fs.ErrNotExist) || ok {
			return nil // a missing blob is fetched by the next download anyway
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		removed = append(removed, filepath.ToSlash(rel))
		return errors.Join(os.Remove(target), os.Remove(p))
	})
	if err != nil {
		return removed, fmt.Errorf("verifying the cached snapshot %s: %w", dir, err)
	}
	return removed, nil
}

// hasSHA256 reports whether the file at p hashes to want (hex).
func hasSHA256(p, want string) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	return hex.EncodeToString(h.Sum(nil)) == want, nil
}
