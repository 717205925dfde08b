package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 defaults.
const (
	DefaultS3PartSize     = 16 << 20 // multipart above this size, in parts of it
	minS3PartSize         = 5 << 20  // S3's smallest part
	DefaultS3MaxAttempts  = 6
	DefaultS3RetryBase    = 200 * time.Millisecond
	DefaultS3RetryMax     = 5 * time.Second
	DefaultS3StallTimeout = 2 * time.Minute
	minS3StallTimeout     = time.Second // EnvS3StallTimeout's bounds
	maxS3StallTimeout     = time.Hour
	defaultS3Region       = "us-east-1"
	maxS3KeyLen           = 1024
)

// S3Config says how to reach an S3-compatible service (AWS S3,
// DigitalOcean Spaces, MinIO, versitygw, ...). The zero value plus
// credentials means AWS S3 in us-east-1 over TLS. S3ConfigFromEnv fills
// it from the usual environment variables.
type S3Config struct {
	// Endpoint is "host[:port]" or "http(s)://host[:port]"; an http://
	// endpoint turns TLS off. Empty: AWS S3 (s3.<region>.amazonaws.com).
	Endpoint string
	// Region signs requests (default us-east-1; DigitalOcean Spaces
	// accepts us-east-1 or the space's region, e.g. nyc3).
	Region string
	// AccessKey, SecretKey and the optional SessionToken; all empty means
	// anonymous requests (public buckets).
	AccessKey, SecretKey, SessionToken string
	// Insecure turns TLS off for a bare host:port endpoint.
	Insecure bool
	// Lookup picks the bucket addressing: "auto" (default: virtual-host
	// style for AWS and other hosts known to support it, path style
	// otherwise), "path" (http://host/bucket/key: MinIO, versitygw) or
	// "virtual" (http://bucket.host/key: AWS, Spaces).
	Lookup string
	// PartSize: objects larger than this are uploaded in parts of this
	// size (default 16 MiB, at least 5 MiB). Threads parts go in parallel
	// (default 4).
	PartSize int64
	Threads  int
	// MaxAttempts bounds the tries of one operation on transient errors
	// (network, 5xx, SlowDown; default 6); the waits between them grow
	// from RetryBase (default 200 ms) to RetryMax (default 5 s), with
	// jitter. The context bounds everything.
	MaxAttempts         int
	RetryBase, RetryMax time.Duration
	// StallTimeout cancels an upload attempt or a download read that moved
	// no byte for this long, and (default transport) any request whose
	// response headers take longer (default 2 min): a hung endpoint keeps
	// its connections open and would otherwise block a node forever
	// (s3_stall.go). The stall is retried.
	StallTimeout time.Duration
	// SpoolDir holds temporary copies of non-seekable readers larger than
	// PartSize (default os.TempDir()).
	SpoolDir string
	// Transport replaces the HTTP transport (default: 5 s dial timeout,
	// keep-alive connections).
	Transport http.RoundTripper
	// Logger receives retry warnings (default: discard).
	Logger *slog.Logger

	// envErr is the first bad value S3ConfigFromEnv met (its field kept
	// the default): newClient reports it, so no store opens with a
	// setting the operator did not get.
	envErr error
}

// S3 environment variables read by S3ConfigFromEnv.
const (
	EnvS3Endpoint = "S3_ENDPOINT"            // after AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL
	EnvS3Lookup   = "SANAFARM_S3_LOOKUP"     // auto | path | virtual
	EnvS3Insecure = "SANAFARM_S3_INSECURE"   // 1/true: no TLS for a bare host:port endpoint
	EnvS3PartSize = "SANAFARM_S3_PART_BYTES" // multipart part size in bytes
	// EnvS3StallTimeout is S3Config.StallTimeout, a Go duration from 1s
	// to 1h (default 2m).
	EnvS3StallTimeout = "SANAFARM_S3_STALL_TIMEOUT"
)

// S3ConfigFromEnv reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, AWS_REGION (else AWS_DEFAULT_REGION), the endpoint
// from AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or S3_ENDPOINT (first set),
// SANAFARM_S3_LOOKUP, SANAFARM_S3_INSECURE, SANAFARM_S3_PART_BYTES and
// SANAFARM_S3_STALL_TIMEOUT. A bad value of one of the last three leaves
// the default and makes every store opened with the config fail with an
// error naming it; CheckS3Env reports it at a process's start.
func S3ConfigFromEnv() S3Config {
	return s3ConfigFrom(os.Getenv)
}

// CheckS3Env returns the error S3ConfigFromEnv's config would give every
// store it opens (a bad SANAFARM_S3_INSECURE, SANAFARM_S3_PART_BYTES or
// SANAFARM_S3_STALL_TIMEOUT), or nil: a node or
// coordinator calls it at start, so a typo stops it there rather than
// failing every job that writes to S3.
func CheckS3Env() error {
	return S3ConfigFromEnv().envErr
}

func s3ConfigFrom(getenv func(string) string) S3Config {
	first := func(names ...string) string {
		for _, n := range names {
			if v := strings.TrimSpace(getenv(n)); v != "" {
				return v
			}
		}
		return ""
	}
	c := S3Config{
		Endpoint:     first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", EnvS3Endpoint),
		Region:       first("AWS_REGION", "AWS_DEFAULT_REGION"),
		AccessKey:    first("AWS_ACCESS_KEY_ID"),
		SecretKey:    first("AWS_SECRET_ACCESS_KEY"),
		SessionToken: first("AWS_SESSION_TOKEN"),
		Lookup:       first(EnvS3Lookup),
	}
	var errs [3]error
	c.Insecure, errs[0] = parseInsecure(first(EnvS3Insecure))
	if v := first(EnvS3PartSize); v != "" {
		c.PartSize, errs[1] = parsePartSize(v)
	}
	if v := first(EnvS3StallTimeout); v != "" {
		c.StallTimeout, errs[2] = parseStallTimeout(v)
	}
	for _, err := range errs {
		if err != nil && c.envErr == nil {
			c.envErr = err
		}
	}
	return c
}

// parseInsecure parses SANAFARM_S3_INSECURE. An unknown value is an error,
// not false: "on" must not quietly mean TLS.
func parseInsecure(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "true", "yes":
		return true, nil
	case "", "0", "false", "no":
		return false, nil
	}
	return false, fmt.Errorf("%s=%q: want true or false (1/0, yes/no)", EnvS3Insecure, v)
}

// maxS3PartSize bounds SANAFARM_S3_PART_BYTES: a part is buffered in
// memory (s3_body.go) once per upload thread.
const maxS3PartSize = 1 << 30

// parsePartSize parses SANAFARM_S3_PART_BYTES: a byte count from S3's
// smallest part (5 MiB) to 1 GiB.
func parsePartSize(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a number of bytes such as 16777216", EnvS3PartSize, v)
	}
	if n < minS3PartSize || n > maxS3PartSize {
		return 0, fmt.Errorf("%s=%q: want %d (5 MiB) to %d (1 GiB) bytes", EnvS3PartSize, v, minS3PartSize, maxS3PartSize)
	}
	return n, nil
}

// parseStallTimeout parses SANAFARM_S3_STALL_TIMEOUT: a Go duration in
// [1s, 1h]. Below a second a busy endpoint's pause reads as a hang; above
// an hour a hung one holds a node's shard for longer than a job is worth.
func parseStallTimeout(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a duration such as 30s or 2m: %w", EnvS3StallTimeout, v, err)
	}
	if d < minS3StallTimeout || d > maxS3StallTimeout {
		return 0, fmt.Errorf("%s=%q: want %v to %v", EnvS3StallTimeout, v, minS3StallTimeout, maxS3StallTimeout)
	}
	return d, nil
}

// withDefaults fills in the zero fields.
func (c S3Config) withDefaults() S3Config {
	if c.Region == "" {
		c.Region = defaultS3Region
	}
	if c.PartSize <= 0 {
		c.PartSize = DefaultS3PartSize
	}
	c.PartSize = max(c.PartSize, minS3PartSize)
	if c.Threads <= 0 {
		c.Threads = 4
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultS3MaxAttempts
	}
	if c.RetryBase <= 0 {
		c.RetryBase = DefaultS3RetryBase
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultS3RetryMax
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = DefaultS3StallTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// endpoint returns the host[:port] and whether to use TLS.
func (c S3Config) endpoint() (host string, secure bool, err error) {
	ep := c.Endpoint
	if ep == "" {
		return "s3." + c.Region + ".amazonaws.com", !c.Insecure, nil
	}
	if !strings.Contains(ep, "://") {
		if strings.ContainsAny(ep, "/?#") {
			return "", false, fmt.Errorf("s3 endpoint %q: want host[:port] or http(s)://host[:port]", ep)
		}
		return ep, !c.Insecure, nil
	}
	u, err := url.Parse(ep)
	if err != nil {
		return "", false, fmt.Errorf("s3 endpoint %q: %w", ep, err)
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", false, fmt.Errorf("s3 endpoint %q: want http(s)://host[:port] without a path", ep)
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return u.Host, false, nil
	case "https":
		return u.Host, true, nil
	}
	return "", false, fmt.Errorf("s3 endpoint %q: scheme %q is not http or https", ep, u.Scheme)
}

func (c S3Config) lookup() (minio.BucketLookupType, error) {
	switch strings.ToLower(c.Lookup) {
	case "", "auto":
		return minio.BucketLookupAuto, nil
	case "path":
		return minio.BucketLookupPath, nil
	case "virtual", "dns", "vhost":
		return minio.BucketLookupDNS, nil
	}
	return 0, fmt.Errorf("s3 bucket lookup %q: want auto, path or virtual", c.Lookup)
}

// newClient builds a minio-go client that does not retry by itself: the
// store retries whole operations (so a retry can replay a whole upload).
func (c S3Config) newClient() (*minio.Client, error) {
	if c.envErr != nil {
		return nil, fmt.Errorf("s3 settings: %w", c.envErr)
	}
	host, secure, err := c.endpoint()
	if err != nil {
		return nil, err
	}
	lookup, err := c.lookup()
	if err != nil {
		return nil, err
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return nil, errors.New("s3 credentials: set both the access key (AWS_ACCESS_KEY_ID) and the secret key (AWS_SECRET_ACCESS_KEY), or neither")
	}
	tr := c.Transport
	if tr == nil {
		tr = newS3Transport(c.StallTimeout)
	}
	cl, err := minio.New(host, &minio.Options{
		Creds:        credentials.NewStaticV4(c.AccessKey, c.SecretKey, c.SessionToken),
		Secure:       secure,
		Transport:    tr,
		Region:       c.Region,
		BucketLookup: lookup,
		MaxRetries:   1,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 endpoint %s: %w", host, err)
	}
	return cl, nil
}

// newS3Transport is the default transport; a response's headers must come
// within stall (S3Config.StallTimeout): a request without a stall guard
// of its own (stat, copy, list, delete, the bucket check) to a hung
// endpoint must end as soon as a guarded upload or download would.
func newS3Transport(stall time.Duration) *http.Transport {
	if stall <= 0 {
		stall = DefaultS3StallTimeout
	}
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		ResponseHeaderTimeout: stall,
		DisableCompression:    true,
	}
}

// IsS3URL reports whether rawURL has the s3:// scheme.
func IsS3URL(rawURL string) bool {
	scheme, _, ok := strings.Cut(rawURL, "://")
	return ok && strings.EqualFold(scheme, "s3")
}

// ParseS3URL splits s3://bucket/prefix into the bucket and the key
// prefix ("" for the bucket's root; no leading or trailing slash). The
// bucket must be a valid S3 bucket name, the prefix a valid key.
func ParseS3URL(rawURL string) (bucket, prefix string, err error) {
	if !IsS3URL(rawURL) {
		return "", "", fmt.Errorf("storage URL %q: not an s3:// URL", rawURL)
	}
	rest := rawURL[len("s3://"):]
	if strings.ContainsAny(rest, "?#") {
		return "", "", fmt.Errorf("storage URL %q: s3 URLs take no query or fragment (configure the endpoint with %s)", rawURL, EnvS3Endpoint)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if err := checkBucket(bucket); err != nil {
		return "", "", fmt.Errorf("storage URL %q: %w", rawURL, err)
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix != "" {
		if err := CheckKey(prefix); err != nil {
			return "", "", fmt.Errorf("storage URL %q: prefix: %w", rawURL, err)
		}
		if len(prefix) > maxS3KeyLen/2 {
			return "", "", fmt.Errorf("storage URL %q: prefix longer than %d bytes", rawURL, maxS3KeyLen/2)
		}
	}
	return bucket, prefix, nil
}

// checkBucket applies S3's bucket naming rules: 3-63 characters of
// lowercase letters, digits, '.' and '-', starting and ending with a
// letter or digit, no "..", not an IP address.
func checkBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q: want 3 to 63 characters", b)
	}
	for i := 0; i < len(b); i++ {
		ch := b[i]
		ok := ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '-'
		if !ok {
			return fmt.Errorf("bucket name %q: only lowercase letters, digits, '.' and '-'", b)
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) || strings.Contains(b, "..") {
		return fmt.Errorf("bucket name %q: must start and end with a letter or digit, without \"..\"", b)
	}
	if net.ParseIP(b) != nil {
		return fmt.Errorf("bucket name %q: must not be an IP address", b)
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
