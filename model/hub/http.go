package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sanafarm/sanafarm/internal/backoff"
	"github.com/sanafarm/sanafarm/internal/metrics"
)

// Hub response headers (huggingface_hub's constants).
const (
	headerRepoCommit = "X-Repo-Commit"
	headerLinkedEtag = "X-Linked-Etag"
	headerLinkedSize = "X-Linked-Size"
	headerErrorCode  = "X-Error-Code"
	headerErrorMsg   = "X-Error-Message"
)

// statusError is an HTTP answer that is not a success.
type statusError struct {
	code    int
	errCode string // X-Error-Code
	msg     string // X-Error-Message
}

func (e *statusError) Error() string {
	s := fmt.Sprintf("HTTP %d", e.code)
	if e.errCode != "" {
		s += " " + e.errCode
	}
	if e.msg != "" {
		s += ": " + e.msg
	}
	return s
}

func newStatusError(resp *http.Response) *statusError {
	return &statusError{
		code:    resp.StatusCode,
		errCode: resp.Header.Get(headerErrorCode),
		msg:     resp.Header.Get(headerErrorMsg),
	}
}

// retryable reports whether err is worth another try: network errors,
// timeouts, 5xx and 429. Cancellation is not.
func retryable(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var se *statusError
	if errors.As(err, &se) {
		return se.code >= 500 || se.code == http.StatusTooManyRequests || se.code == http.StatusRequestTimeout
	}
	return !errors.Is(err, ErrIntegrity) && !errors.Is(err, ErrDisk)
}

// hubCause is err's bounded "cause" label for sanafarm_retries_total and
// sanafarm_request_failures_total (docs/deploy.md, Metrics).
func hubCause(err error) string {
	var se *statusError
	switch {
	case errors.As(err, &se):
		return metrics.HTTPCause(se.code)
	case errors.Is(err, ErrIntegrity):
		return metrics.CauseIntegrity
	}
	if c := metrics.NetCause(err); c != "" {
		return c
	}
	return metrics.CauseOther
}

// ErrDisk marks failures of the local cache's file system (a full disk, a
// read-only mount), which retrying does not fix and which are the node's,
// not the job's (node.ownFault).
var ErrDisk = errors.New("disk error")

// retry runs op until it succeeds, fails for good, or the retries run out,
// sleeping with exponential backoff in between (from RetryWait up to 30×,
// ±25 % jitter: a farm's nodes often fetch one model at the same moment).
func (c *Client) retry(ctx context.Context, what string, op func() error) error {
	b := backoff.Policy{Base: c.retryWait, Max: c.retryWait * 30, Jitter: 0.25}.New()
	for attempt := 0; ; attempt++ {
		err := op()
		if err == nil {
			return nil
		}
		if attempt >= c.maxRetries || !retryable(ctx, err) {
			metrics.RetriesFrom(ctx).Failure(metrics.SystemHub, hubCause(err))
			return err
		}
		metrics.RetriesFrom(ctx).Retry(metrics.SystemHub, hubCause(err))
		wait := b.Next()
		c.log.Warn("hub request failed, retrying", "what", what, "attempt", attempt+1, "wait", wait, "err", err)
		if !backoff.Sleep(ctx, wait) {
			return fmt.Errorf("%w (after: %w)", ctx.Err(), err)
		}
	}
}

// resolveURL is {endpoint}/{repo}/resolve/{revision}/{file}, escaped the way
// huggingface_hub's hf_hub_url escapes it.
func (c *Client) resolveURL(repo, rev, file string) string {
	parts := strings.Split(file, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return c.endpoint.String() + "/" + repo + "/resolve/" + url.PathEscape(rev) + "/" + strings.Join(parts, "/")
}

// newRequest builds a request carrying the token when it goes to the endpoint.
func (c *Client) newRequest(ctx context.Context, method, u string) (*http.Request, error) {
	if c.offline {
		return nil, fmt.Errorf("%w: refusing to reach %s", ErrOffline, u)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "sanafarm-hub/1")
	if c.token != "" && req.URL.Host == c.endpoint.Host {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// fileMeta is what a HEAD on a resolve URL tells about one file.
type fileMeta struct {
	commit   string
	etag     string
	size     int64
	location string // where to GET the bytes (a CDN URL for LFS files)
}

// headFile asks the Hub for a file's metadata without following redirects
// to the CDN (their headers are the answer), but following relative ones
// (a renamed repo), as huggingface_hub's get_hf_file_metadata does.
func (c *Client) headFile(ctx context.Context, repo, rev, file string) (fileMeta, error) {
	noRedirect := *c.http
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	u := c.resolveURL(repo, rev, file)
	var meta fileMeta
	err := c.retry(ctx, "HEAD "+file, func() error {
		var err error
		meta, err = c.headOnce(ctx, &noRedirect, u)
		return err
	})
	if err != nil {
		return fileMeta{}, c.describe(err, repo, rev, file)
	}
	return meta, nil
}

func (c *Client) headOnce(ctx context.Context, hc *http.Client, u string) (fileMeta, error) {
	for hops := 0; ; hops++ {
		req, err := c.newRequest(ctx, http.MethodHead, u)
		if err != nil {
			return fileMeta{}, err
		}
		req.Header.Set("Accept-Encoding", "identity")
		resp, err := hc.Do(req)
		if err != nil {
			return fileMeta{}, err
		}
		_ = resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
			target, err := req.URL.Parse(loc)
			if err != nil {
				return fileMeta{}, fmt.Errorf("bad redirect %q: %w", loc, err)
			}
			if lu, _ := url.Parse(loc); lu != nil && lu.Host == "" && hops < 5 {
				u = target.String() // relative redirect: stay on the Hub
				continue
			}
			return metaFrom(resp, target.String())
		}
		if resp.StatusCode >= 400 {
			return fileMeta{}, newStatusError(resp)
		}
		return metaFrom(resp, u)
	}
}

func metaFrom(resp *http.Response, location string) (fileMeta, error) {
	h := resp.Header
	meta := fileMeta{
		commit:   h.Get(headerRepoCommit),
		etag:     normalizeEtag(firstNonEmpty(h.Get(headerLinkedEtag), h.Get("ETag"))),
		location: location,
		size:     -1,
	}
	if s := firstNonEmpty(h.Get(headerLinkedSize), h.Get("Content-Length")); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return fileMeta{}, fmt.Errorf("bad file size header %q", s)
		}
		meta.size = n
	}
	switch {
	case !isCommit(meta.commit):
		return fileMeta{}, fmt.Errorf("response has no valid %s header (got %q): is the endpoint a Hugging Face Hub?", headerRepoCommit, meta.commit)
	case meta.etag == "" || strings.ContainsAny(meta.etag, "/\\\x00") || meta.etag == "." || meta.etag == "..":
		return fileMeta{}, fmt.Errorf("response has no usable ETag (got %q)", meta.etag)
	case meta.size < 0:
		return fileMeta{}, errors.New("response has no file size")
	}
	return meta, nil
}

// normalizeEtag strips a weak-validator prefix and the quotes.
func normalizeEtag(s string) string {
	return strings.Trim(strings.TrimPrefix(strings.TrimSpace(s), "W/"), `"`)
}

// getJSON fetches an endpoint-relative URL and returns its body (at most limit bytes).
func (c *Client) getBody(ctx context.Context, u string, limit int64) ([]byte, error) {
	var body []byte
	err := c.retry(ctx, "GET "+u, func() error {
		req, err := c.newRequest(ctx, http.MethodGet, u)
		if err != nil {
			return err
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return newStatusError(resp)
		}
		body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err == nil && int64(len(body)) > limit {
			err = fmt.Errorf("response larger than %d bytes", limit)
		}
		return err
	})
	return body, err
}

// describe turns a failed Hub request into an error naming the repo,
// revision and file ("" for the repo listing), with a hint for the common
// cases: offline, gated (HF_TOKEN), not found, disk.
func (c *Client) describe(err error, repo, rev, file string) error {
	target := fmt.Sprintf("repo %s (revision %s)", repo, rev)
	if file != "" {
		target = fmt.Sprintf("%s of repo %s (revision %s)", file, repo, rev)
	}
	var se *statusError
	switch {
	case errors.As(err, &se):
		return c.describeStatus(se, target, repo, rev, file)
	case errors.Is(err, ErrDisk):
		return fmt.Errorf("writing %s to the cache %s: %w", target, c.cacheDir, err)
	case errors.Is(err, ErrIntegrity):
		return fmt.Errorf("downloading %s: %w", target, err)
	case errors.Is(err, ErrOffline), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", target, err)
	}
	return fmt.Errorf("reaching the hub at %s for %s: %w", c.endpoint, target, err)
}

func (c *Client) describeStatus(se *statusError, target, repo, rev, file string) error {
	switch {
	case se.code == http.StatusUnauthorized || se.code == http.StatusForbidden || se.errCode == "GatedRepo":
		hint := "the repo is gated or private (or does not exist): set HF_TOKEN to a token with access"
		if c.token != "" {
			hint = "the token in HF_TOKEN was not accepted or has no access (a gated repo needs its terms accepted on the Hub)"
		}
		return fmt.Errorf("%w to %s: %s: %w", ErrUnauthorized, target, hint, se)
	case se.code == http.StatusNotFound:
		what := target + ": repo, revision or file"
		switch se.errCode {
		case "RepoNotFound":
			what = "repo " + repo
		case "RevisionNotFound":
			what = fmt.Sprintf("revision %s of repo %s", rev, repo)
		case "EntryNotFound":
			what = fmt.Sprintf("file %s in repo %s at revision %s", file, repo, rev)
		}
		return fmt.Errorf("%s: %w (%w)", what, ErrNotFound, se)
	}
	return fmt.Errorf("hub request for %s: %w", target, se)
}
