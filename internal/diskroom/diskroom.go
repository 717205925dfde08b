// Package diskroom checks that a download fits before it starts: within
// the operator's bound and in the free space of the disk it lands on. A job
// may name any Hub repo, so without it one naming a huge repo filled the
// node's disk, which its cache, other models and shard staging share, and
// failed only when writes did (docs/architecture.md §7).
package diskroom

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dustin/go-humanize"
)

// Reserve is what a download must leave free on its disk; on a disk with
// less than twice that free, half of what is free (a small download on a
// nearly full disk is not what fills it, and tests run on such disks).
const Reserve = 1 << 30

// ErrRefused is wrapped by every refusal of Check and Ledger.Take: the
// node's own bound or disk says no, which is the node's doing rather
// than the job's (node.ownFault).
var ErrRefused = errors.New("download refused by this node's bound or free disk space")

// refusal keeps a refusal's message as it was and says ErrRefused.
type refusal struct{ msg string }

func (r refusal) Error() string { return r.msg }
func (refusal) Unwrap() error   { return ErrRefused }

// Check returns an error naming what, its size and the bound when need
// bytes exceed limit (limit ≤ 0: no bound) or the free space of the file
// system holding dir (or its nearest existing parent) less the reserve.
// Where the free space cannot be read, only limit is checked.
func Check(what, dir string, need, limit int64) error {
	if limit > 0 && need > limit {
		return refusal{fmt.Sprintf("%s needs %s, more than this node downloads for one model (%s; --max-model-bytes)", what, size(need), size(limit))}
	}
	if need <= 0 {
		return nil
	}
	free, err := Free(dir)
	if err != nil {
		return nil
	}
	return noRoom(what, dir, need, free, 0)
}

// noRoom is the refusal of a download of need bytes into dir when it does
// not fit in free less what other downloads have been promised, with the
// reserve kept; nil when it fits.
func noRoom(what, dir string, need, free, promised int64) error {
	keep, ok := fits(need, free-promised)
	if ok {
		return nil
	}
	held := ""
	if promised > 0 {
		held = fmt.Sprintf(", %s of it promised to downloads in progress", size(promised))
	}
	return refusal{fmt.Sprintf("%s needs %s, but the disk of %s has %s free%s (%s kept in reserve)", what, size(need), dir, size(free), held, size(keep))}
}

// fits reports whether need bytes fit in free ones with the reserve kept.
func fits(need, free int64) (keep int64, ok bool) {
	keep = min(Reserve, free/2)
	return keep, need <= free-keep
}

// Free is the space an unprivileged writer may use on the file system of
// dir or of its nearest existing parent.
func Free(dir string) (int64, error) {
	p, err := existing(dir)
	if err != nil {
		return 0, err
	}
	return freeAt(p)
}

// existing is dir or its nearest parent that exists.
func existing(dir string) (string, error) {
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		if filepath.Dir(p) == p {
			return "", fmt.Errorf("%s: no existing parent", dir)
		}
	}
}

// size writes n bytes in binary units ("1.5 GiB").
func size(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }
