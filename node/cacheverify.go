package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sanafarm/sanafarm/model/hub"
)

// ErrCacheCorrupt: a model the node had cached failed to load and some of
// its files no longer match the digests they were downloaded with. The
// node's disk (or a hand in its cache) is at fault, not the shard, so the
// failure is the node's own (ownFault): the attempt is not counted, and
// the files are removed so that the next shard downloads them again.
var ErrCacheCorrupt = errors.New("the node's model cache held corrupt files")

// checkCache is called when the cached model in dir failed to load with
// err: it verifies dir's files (verifyModelDir) and, if some were corrupt
// and removed, returns err wrapped in ErrCacheCorrupt naming them;
// otherwise err as it was. Hashing a model costs seconds per gigabyte, so
// a failure that is already the node's own (GPU memory, a full disk) or a
// cancellation is not a reason to, and a folder found intact is not hashed
// again by this executor: a model that is broken at its source fails its
// shards as before, at the price of one check per node.
func (e *PipelineExecutor) checkCache(ctx context.Context, dir string, err error) error {
	if ownFault(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if _, done := e.intact.Load(dir); done {
		return err
	}
	bad, verr := verifyModelDir(ctx, dir)
	if verr != nil {
		e.log.Warn("verifying the model cache after a failed load", "dir", dir, "err", verr)
	}
	if len(bad) == 0 {
		if verr == nil {
			e.intact.Store(dir, true)
		}
		return err
	}
	e.cfg.Metrics.cacheCorrupt(len(bad))
	e.log.Warn("the model cache held corrupt files: removed, the next shard downloads them again", "dir", dir, "files", bad)
	return fmt.Errorf("%w (%s under %s; removed, they download again): %w", ErrCacheCorrupt, strings.Join(bad, ", "), dir, err)
}

// verifyModelDir re-hashes a resolved model folder's files against the
// digests they were fetched with and removes what no longer matches: a
// mirror download (its manifest's SHA-256s; the whole folder goes, as a
// mirror folder is fetched whole) or a Hub snapshot (its weights, whose
// blobs are named by their SHA-256). Other folders (sana-tiny, written
// here) have no digests to check. It returns the corrupt files.
func verifyModelDir(ctx context.Context, dir string) ([]string, error) {
	switch {
	case mirrorComplete(dir):
		return verifyMirrorDir(ctx, dir)
	case filepath.Base(filepath.Dir(dir)) == "snapshots":
		return hub.VerifySnapshot(dir)
	}
	return nil, nil
}

// verifyMirrorDir checks a mirror download against the manifest it keeps
// and removes the folder when a file differs.
func verifyMirrorDir(ctx context.Context, dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, MirrorManifestName))
	if err != nil {
		return nil, err
	}
	m, err := decodeMirrorManifest(f, dir, "cached")
	f.Close()
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, mf := range m.Files {
		got, err := hashFile(ctx, filepath.Join(dir, filepath.FromSlash(mf.Path)))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil || got.Size != mf.Size || got.SHA256 != mf.SHA256 {
			bad = append(bad, mf.Path)
		}
	}
	if len(bad) == 0 {
		return nil, nil
	}
	return bad, os.RemoveAll(dir)
}
