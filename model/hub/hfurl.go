package hub

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// URLScheme prefixes a file reference in a Hub repo, as NVlabs/Sana
// configs and guides write checkpoints:
// hf://<owner>/<repo>[@<revision>]/<path in repo>.
const URLScheme = "hf://"

// URL is a parsed hf:// reference.
type URL struct {
	Repo     string // owner/name
	Revision string // "" means main
	Path     string // slash-separated, inside the repo
}

// String spells the URL back (the form recorded in provenance).
func (u URL) String() string {
	rev := ""
	if u.Revision != "" {
		rev = "@" + u.Revision
	}
	return URLScheme + u.Repo + rev + "/" + u.Path
}

// IsURL reports whether s is an hf:// reference (not a local path).
func IsURL(s string) bool { return strings.HasPrefix(s, URLScheme) }

// ParseURL checks an hf:// reference; errors name the part that is wrong.
func ParseURL(s string) (URL, error) {
	rest, ok := strings.CutPrefix(s, URLScheme)
	if !ok {
		return URL{}, fmt.Errorf("hub URL %q: want %s<owner>/<repo>/<path in repo>", s, URLScheme)
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 3 || parts[2] == "" {
		return URL{}, fmt.Errorf("hub URL %q: want %s<owner>/<repo>/<path in repo>", s, URLScheme)
	}
	name, rev, hasRev := strings.Cut(parts[1], "@")
	u := URL{Repo: parts[0] + "/" + name, Revision: rev, Path: parts[2]}
	if err := checkRepo(u.Repo); err != nil {
		return URL{}, fmt.Errorf("hub URL %q: %w", s, err)
	}
	if hasRev { // "@" then nothing is an error, not main
		if err := checkRevision(rev); err != nil {
			return URL{}, fmt.Errorf("hub URL %q: %w", s, err)
		}
	}
	if err := checkRepoPath(u.Path); err != nil {
		return URL{}, fmt.Errorf("hub URL %q: %w", s, err)
	}
	return u, nil
}

// DownloadURL fetches the one file an hf:// URL names into the cache (or
// finds it there) and returns its local path and its entry: SHA256 is the
// Hub's LFS digest, "" for files stored in git or when answered offline.
func (c *Client) DownloadURL(ctx context.Context, raw string) (string, File, error) {
	return c.DownloadURLMax(ctx, raw, 0)
}

// ErrTooLarge is wrapped by DownloadURLMax's refusal of a large file.
var ErrTooLarge = errors.New("file too large")

// DownloadURLMax is DownloadURL for a file whose reader takes at most
// limit bytes (a job's image or adapter): one the Hub lists as larger is
// refused before any of it is downloaded, rather than filling the cache
// and failing after (limit ≤ 0: no bound).
func (c *Client) DownloadURLMax(ctx context.Context, raw string, limit int64) (string, File, error) {
	u, err := ParseURL(raw)
	if err != nil {
		return "", File{}, err
	}
	opts := Options{Files: []string{u.Path}}
	p, err := c.plan(ctx, u.Repo, u.Revision, opts)
	if err != nil {
		return "", File{}, err
	}
	if f := p.files[0]; limit > 0 && f.Size > limit {
		return "", File{}, fmt.Errorf("%s is %d bytes, more than the %d this input takes: %w", u, f.Size, limit, ErrTooLarge)
	}
	if err := c.fetchPlan(ctx, p, opts); err != nil {
		return "", File{}, err
	}
	return filepath.Join(p.rc.snapshotDir(p.commit), filepath.FromSlash(u.Path)), p.files[0], nil
}

// exactFiles checks that every wanted path is in the repo's listing.
func exactFiles(p *plan, want []string) ([]string, error) {
	for _, f := range want {
		if err := checkRepoPath(f); err != nil {
			return nil, err
		}
		if _, ok := p.listing[f]; !ok {
			return nil, fmt.Errorf("repo %s revision %s has no file %s: %w", p.repo, p.rev, f, ErrNotFound)
		}
	}
	out := slices.Clone(want)
	slices.Sort(out)
	return slices.Compact(out), nil
}
