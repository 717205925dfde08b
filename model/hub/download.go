package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sanafarm/sanafarm/internal/diskroom"
)

// Download fetches the files Plan selects into the cache and returns the
// snapshot folder, snapshots/{commit}, ready to load from. Files already in
// the cache are not downloaded again; blobs already there (another revision,
// or Python's huggingface_hub) are linked, not fetched.
func (c *Client) Download(ctx context.Context, repo, revision string, opts Options) (string, error) {
	p, err := c.plan(ctx, repo, revision, opts)
	if err != nil {
		return "", err
	}
	if err := c.fetchPlan(ctx, p, opts); err != nil {
		return "", err
	}
	return p.rc.snapshotDir(p.commit), nil
}

// fetchPlan downloads the files of p that are not cached yet.
func (c *Client) fetchPlan(ctx context.Context, p *plan, opts Options) error {
	var todo []File
	var total int64
	for _, f := range p.files {
		if !f.Cached {
			todo = append(todo, f)
			total += max(f.Size-p.rc.partial(f), 0)
		}
	}
	c.log.Debug("hub download", "repo", p.repo, "revision", p.rev, "commit", p.commit,
		"files", len(p.files), "to_fetch", len(todo), "bytes", total)
	what := fmt.Sprintf("repo %s (revision %s, %d files to fetch)", p.repo, p.rev, len(todo))
	hold, err := c.room.Take(what, p.rc.root, total, c.maxBytes)
	if err != nil {
		return err
	}
	defer hold.Release()
	p.hold = hold
	if len(todo) > 0 {
		if c.progress != nil {
			c.progress.Start(len(todo), total)
		}
		err := c.fetchAll(ctx, p, todo, opts.Concurrency)
		if c.progress != nil {
			c.progress.Done()
		}
		return err
	}
	return nil
}

// fetchAll runs ensureFile over files with at most n at a time; the first
// error cancels the rest.
func (c *Client) fetchAll(ctx context.Context, p *plan, files []File, n int) error {
	if n <= 0 {
		n = 4
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, f := range files {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			err := c.ensureFile(ctx, p, f, c.progress)
			if c.progress != nil {
				c.progress.FileDone(f.Path, err)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				cancel(err)
			}
		})
	}
	wg.Wait()
	if len(errs) == 0 && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return firstRealError(errs)
}

// firstRealError prefers an error that is not a cancellation caused by
// another worker's failure.
func firstRealError(errs []error) error {
	for _, err := range errs {
		if !errors.Is(err, context.Canceled) {
			return err
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// ensureFile makes snapshots/{commit}/{f.Path} exist and point at a
// complete, verified blob.
func (c *Client) ensureFile(ctx context.Context, p *plan, f File, prog Progress) error {
	if size, ok := p.rc.hasPointer(p.commit, f.Path); ok && (f.Size < 0 || size == f.Size || c.offline) {
		return nil
	}
	if c.offline {
		return fmt.Errorf("file %s of repo %s at revision %s (commit %s) is not in the cache at %s: %w",
			f.Path, p.repo, p.rev, p.commit, c.cacheDir, ErrOffline)
	}
	meta, err := c.headFile(ctx, p.repo, p.commit, f.Path)
	if err != nil {
		return err
	}
	hold := p.hold
	if f.Size < 0 { // not in fetchPlan's sum: the listing gave no size
		if hold, err = c.room.Take(fmt.Sprintf("%s of repo %s", f.Path, p.repo), p.rc.root, meta.size, c.maxBytes); err != nil {
			return err
		}
		defer hold.Release()
	}
	if meta.commit != p.commit {
		c.log.Warn("hub answered for another commit", "repo", p.repo, "file", f.Path, "want", p.commit, "got", meta.commit)
	}
	want := f.SHA256
	if want == "" && sha256RE.MatchString(meta.etag) {
		want = meta.etag // LFS: X-Linked-Etag is the file's sha256
	}
	blob := p.rc.blobPath(meta.etag)
	if st, err := os.Stat(blob); err != nil || st.Size() != meta.size {
		if err := c.fetchBlob(ctx, p, f.Path, meta, want, prog, hold); err != nil {
			return err
		}
	} else {
		hold.Wrote(meta.size) // linked, not written: its room is free again
		if prog != nil {
			prog.Add(f.Path, meta.size)
		}
	}
	return p.rc.link(p.commit, f.Path, meta.etag)
}

// fetchBlob downloads one blob under the cross-process lock that
// huggingface_hub also takes ({cache}/.locks/models--org--name/{etag}.lock),
// resuming from blobs/{etag}.incomplete.
func (c *Client) fetchBlob(ctx context.Context, p *plan, file string, meta fileMeta, sum string, prog Progress, hold *diskroom.Hold) error {
	blob := p.rc.blobPath(meta.etag)
	unlock, err := lockFile(ctx, p.rc.lockPath(meta.etag))
	if err != nil {
		return fmt.Errorf("locking blob of %s in %s: %w", file, p.repo, err)
	}
	defer unlock()
	if st, err := os.Stat(blob); err == nil && st.Size() == meta.size {
		hold.Wrote(meta.size)
		if prog != nil {
			prog.Add(file, meta.size)
		}
		return nil // another process finished it while we waited
	}
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return fmt.Errorf("creating blobs folder of %s in %s: %w: %w", p.repo, p.rc.root, ErrDisk, err)
	}
	d := &blobDownload{c: c, p: p, file: file, meta: meta, sum: sum, prog: prog, hold: hold, path: blob + ".incomplete", url: meta.location}
	if err := c.retry(ctx, "GET "+file, func() error { return d.attempt(ctx) }); err != nil {
		return c.describe(err, p.repo, p.rev, file)
	}
	if err := os.Chmod(d.path, 0o644); err != nil {
		return fmt.Errorf("storing blob of %s in %s: %w: %w", file, p.repo, ErrDisk, err)
	}
	if err := os.Rename(d.path, blob); err != nil {
		return fmt.Errorf("storing blob of %s in %s: %w: %w", file, p.repo, ErrDisk, err)
	}
	return nil
}

// blobDownload is one blob being written to its .incomplete file.
type blobDownload struct {
	c    *Client
	p    *plan
	file string
	meta fileMeta
	sum  string // expected sha256, "" for git-stored files
	prog Progress
	hold *diskroom.Hold // the room the download took (diskroom.Ledger)
	path string         // blobs/{etag}.incomplete
	url  string         // where the bytes are: the HEAD's Location
	told int64          // bytes already reported to prog
	try  int
}

// attempt resumes the download from what the .incomplete file holds and
// verifies the result once complete.
func (d *blobDownload) attempt(ctx context.Context) error {
	if d.try++; d.try > 1 {
		if err := d.refreshURL(ctx); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(d.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDisk, err)
	}
	defer f.Close()
	h := sha256.New()
	have, err := io.Copy(h, f) // hash the part we already have, and seek to its end
	if err != nil {
		return fmt.Errorf("%w: reading partial download: %w", ErrDisk, err)
	}
	if have > d.meta.size {
		if have, err = restart(f, h); err != nil {
			return err
		}
	}
	d.sync(have)
	if have < d.meta.size {
		if err := d.fetchRange(ctx, f, h, have); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("%w: %w", ErrDisk, err)
	}
	return d.verify(f, h)
}

// refreshURL asks the Hub again where the bytes are, since a signed CDN
// URL may have expired since the first try.
func (d *blobDownload) refreshURL(ctx context.Context) error {
	noRedirect := *d.c.http
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	meta, err := d.c.headOnce(ctx, &noRedirect, d.c.resolveURL(d.p.repo, d.p.commit, d.file))
	if err != nil {
		return err
	}
	if meta.etag != d.meta.etag || meta.size != d.meta.size {
		return fmt.Errorf("file changed on the hub during the download (etag %s, was %s): %w", meta.etag, d.meta.etag, ErrIntegrity)
	}
	d.url = meta.location
	return nil
}

// fetchRange GETs bytes from offset on, appending them to f.
func (d *blobDownload) fetchRange(ctx context.Context, f *os.File, h hash.Hash, offset int64) error {
	// Like huggingface_hub, the token goes only to the Hub's own resolve
	// URL, never to the CDN the Hub redirected to.
	auth := d.url == d.c.resolveURL(d.p.repo, d.p.commit, d.file)
	// A body that stops arriving is cut and retried (resuming) rather than
	// waited on forever.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(stallTimeout, func() { cancel(errStalled) })
	defer stall.Stop()
	req, err := d.c.newDownloadRequest(ctx, d.url, auth)
	if err != nil {
		return err
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := d.c.http.Do(req)
	if err != nil {
		return stalledOr(ctx, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", offset)) {
			return fmt.Errorf("server answered range %d- with Content-Range %q", offset, resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusOK:
		if offset > 0 { // the server ignored Range: start over
			d.c.log.Info("server ignored Range, restarting download", "repo", d.p.repo, "file", d.file)
			if offset, err = restart(f, h); err != nil {
				return err
			}
			d.sync(0)
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		if _, err := restart(f, h); err != nil {
			return err
		}
		return fmt.Errorf("server refused range %d-: %w", offset, newStatusError(resp))
	default:
		return newStatusError(resp)
	}
	err = d.copyBody(f, h, resp.Body, d.meta.size-offset, func() { stall.Reset(stallTimeout) })
	return stalledOr(ctx, err)
}

// stallTimeout is how long a download may receive nothing before it is
// cut and retried.
const stallTimeout = 60 * time.Second

var errStalled = errors.New("download stalled: no data received for a minute")

// stalledOr reports a stall instead of the cancellation it caused.
func stalledOr(ctx context.Context, err error) error {
	if err != nil && errors.Is(context.Cause(ctx), errStalled) {
		return errStalled
	}
	return err
}

func (d *blobDownload) copyBody(f *os.File, h hash.Hash, body io.Reader, want int64, alive func()) error {
	buf := make([]byte, 256<<10)
	var got int64
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			alive()
			if got+int64(n) > want {
				return fmt.Errorf("server sent more than the %d bytes announced: %w", d.meta.size, ErrIntegrity)
			}
			if _, err := f.Write(buf[:n]); err != nil {
				return fmt.Errorf("%w: writing %s: %w", ErrDisk, d.path, err)
			}
			h.Write(buf[:n])
			d.hold.Wrote(int64(n))
			got += int64(n)
			d.report(int64(n))
		}
		if rerr == io.EOF {
			if got < want {
				return fmt.Errorf("connection closed after %d of %d bytes: %w", got, want, io.ErrUnexpectedEOF)
			}
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// verify checks the complete file's size and, for LFS files, its sha256.
// A bad file is removed so the next try starts clean.
func (d *blobDownload) verify(f *os.File, h hash.Hash) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDisk, err)
	}
	if st.Size() != d.meta.size {
		_ = os.Remove(d.path)
		return fmt.Errorf("downloaded %d bytes, want %d: %w", st.Size(), d.meta.size, ErrIntegrity)
	}
	if got := hex.EncodeToString(h.Sum(nil)); d.sum != "" && got != d.sum {
		_ = os.Remove(d.path)
		return fmt.Errorf("sha256 %s, want %s: %w", got, d.sum, ErrIntegrity)
	}
	return nil
}

// report tells the progress sink about n more bytes.
func (d *blobDownload) report(n int64) {
	if d.prog != nil && n != 0 {
		d.prog.Add(d.file, n)
		d.told += n
	}
}

// sync brings the progress sink to have bytes for this file (a resumed
// prefix counts; a restart takes bytes back).
func (d *blobDownload) sync(have int64) { d.report(have - d.told) }

// restart empties a partial download; it returns the new offset, 0.
func restart(f *os.File, h hash.Hash) (int64, error) {
	h.Reset()
	if err := f.Truncate(0); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrDisk, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrDisk, err)
	}
	return 0, nil
}

// newDownloadRequest is a GET for file bytes; identity encoding keeps
// Range offsets and sizes meaningful.
func (c *Client) newDownloadRequest(ctx context.Context, u string, auth bool) (*http.Request, error) {
	req, err := c.newRequest(ctx, http.MethodGet, u)
	if err != nil {
		return nil, err
	}
	if !auth {
		req.Header.Del("Authorization")
	}
	req.Header.Set("Accept-Encoding", "identity")
	return req, nil
}
