// Package hub downloads model repositories from the Hugging Face Hub into the
// standard Hugging Face cache layout, the same one Python's huggingface_hub
// writes, so that a cache filled by either side is reused by the other:
//
//	$HF_HUB_CACHE/models--{org}--{name}/
//	    blobs/{etag}                       file contents, named by ETag (sha256 for LFS files)
//	    snapshots/{commit}/{path}          relative symlinks to ../../blobs/{etag}
//	    refs/{revision}                    the commit hash a branch or tag pointed to
//	$HF_HUB_CACHE/.locks/models--{org}--{name}/{etag}.lock
//
// A Client picks the files a diffusers pipeline needs (model_index.json, each
// component's configs and tokenizer files, and one set of weights per
// component, honouring a variant and sharded checkpoints), downloads them with
// bounded parallelism, resumes partial downloads with Range requests, checks
// sizes and sha256 digests, and works offline from the cache.
package hub

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sanafarm/sanafarm/internal/diskroom"
)

// DefaultEndpoint is the Hub used when Config.Endpoint and HF_ENDPOINT are empty.
const DefaultEndpoint = "https://huggingface.co"

// DefaultRevision is the revision used when none is given.
const DefaultRevision = "main"

// Errors that callers may test with errors.Is.
var (
	// ErrOffline: offline mode is on and the cache cannot answer.
	ErrOffline = errors.New("offline mode (HF_HUB_OFFLINE=1)")
	// ErrUnauthorized: the Hub refused access (401/403): a gated or private repo.
	ErrUnauthorized = errors.New("access denied")
	// ErrNotFound: the repo, revision or file does not exist.
	ErrNotFound = errors.New("not found")
	// ErrIntegrity: a downloaded file had the wrong size or sha256.
	ErrIntegrity = errors.New("integrity check failed")
)

// Config configures a Client. The zero value is usable: every empty field
// gets a default (see New); ConfigFromEnv fills it from HF_* variables.
type Config struct {
	// Endpoint is the Hub's base URL (HF_ENDPOINT), default DefaultEndpoint.
	Endpoint string
	// CacheDir is the hub cache root (HF_HUB_CACHE), default ~/.cache/huggingface/hub.
	CacheDir string
	// Token is sent as "Authorization: Bearer" to the Hub (HF_TOKEN).
	Token string
	// Offline forbids any network access (HF_HUB_OFFLINE=1).
	Offline bool
	// HTTPClient is used for every request; default a client with sane timeouts.
	HTTPClient *http.Client
	// Logger receives debug and warning records; default discards them.
	Logger *slog.Logger
	// Progress receives download progress; nil reports nothing.
	Progress Progress
	// MaxRetries is how many times a request failing with a network error,
	// 5xx or 429 is retried; 0 means 5, negative means none.
	MaxRetries int
	// RetryWait is the first backoff delay, doubled per retry up to 30 times
	// itself; 0 means 500ms.
	RetryWait time.Duration
	// MaxDownloadBytes bounds what one Download fetches (the files not
	// cached yet); 0 means DefaultMaxDownloadBytes, negative no bound. A
	// download must also leave diskroom.Reserve free on the cache's disk.
	MaxDownloadBytes int64
	// Room, when set, is shared by every Client whose downloads land on
	// the same disks, so downloads at once count each other's bytes still
	// to come (nil: each checks the free space alone).
	Room *diskroom.Ledger
}

// DefaultMaxDownloadBytes is four times the largest released Sana pipeline
// in float32 (4.8B transformer, Gemma-2-2B, DC-AE: about 30 GiB).
const DefaultMaxDownloadBytes = 128 << 30

// Client downloads repos into a Hugging Face cache. It is safe for concurrent
// use, also by several processes sharing one cache.
type Client struct {
	endpoint   *url.URL
	cacheDir   string
	token      string
	offline    bool
	http       *http.Client
	log        *slog.Logger
	progress   Progress
	maxRetries int
	retryWait  time.Duration
	maxBytes   int64 // ≤ 0: no bound
	room       *diskroom.Ledger
}

// New checks cfg, fills in defaults and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultEndpoint
	}
	ep, err := url.Parse(strings.TrimRight(cfg.Endpoint, "/"))
	if err != nil || (ep.Scheme != "http" && ep.Scheme != "https") || ep.Host == "" {
		return nil, fmt.Errorf("hub endpoint %q is not an http(s) URL", cfg.Endpoint)
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = ConfigFromEnv().CacheDir
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: defaultTransport()}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = 5
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = 500 * time.Millisecond
	}
	if cfg.MaxDownloadBytes == 0 {
		cfg.MaxDownloadBytes = DefaultMaxDownloadBytes
	}
	return &Client{
		endpoint: ep, cacheDir: cfg.CacheDir, token: cfg.Token, offline: cfg.Offline,
		http: cfg.HTTPClient, log: cfg.Logger, progress: cfg.Progress,
		maxRetries: cfg.MaxRetries, retryWait: cfg.RetryWait, maxBytes: cfg.MaxDownloadBytes,
		room: cfg.Room,
	}, nil
}

func defaultTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 60 * time.Second
	t.MaxIdleConnsPerHost = 16
	return t
}

// CacheDir returns the hub cache root the client reads and writes.
func (c *Client) CacheDir() string { return c.cacheDir }

// ConfigFromEnv builds a Config from the environment the way huggingface_hub
// reads it: HF_ENDPOINT, HF_HOME (default $XDG_CACHE_HOME/huggingface or
// ~/.cache/huggingface), HF_HUB_CACHE (default $HF_HOME/hub), HF_TOKEN (else
// HUGGING_FACE_HUB_TOKEN, else the file $HF_HOME/token) and HF_HUB_OFFLINE.
func ConfigFromEnv() Config {
	return configFromEnv(os.Getenv, os.ReadFile)
}

func configFromEnv(getenv func(string) string, readFile func(string) ([]byte, error)) Config {
	home := expandHome(getenv, getenv("HF_HOME"))
	if home == "" {
		base := expandHome(getenv, getenv("XDG_CACHE_HOME"))
		if base == "" {
			base = expandHome(getenv, "~/.cache")
		}
		home = filepath.Join(base, "huggingface")
	}
	cache := firstNonEmpty(getenv("HF_HUB_CACHE"), getenv("HUGGINGFACE_HUB_CACHE"))
	if cache = expandHome(getenv, cache); cache == "" {
		cache = filepath.Join(home, "hub")
	}
	token := firstNonEmpty(getenv("HF_TOKEN"), getenv("HUGGING_FACE_HUB_TOKEN"))
	if token == "" {
		tokenPath := expandHome(getenv, getenv("HF_TOKEN_PATH"))
		if tokenPath == "" {
			tokenPath = filepath.Join(home, "token")
		}
		if b, err := readFile(tokenPath); err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	return Config{
		Endpoint: strings.TrimRight(firstNonEmpty(getenv("HF_ENDPOINT"), DefaultEndpoint), "/"),
		CacheDir: cache,
		Token:    strings.TrimSpace(token),
		Offline:  envTrue(getenv("HF_HUB_OFFLINE")),
	}
}

// envTrue mirrors huggingface_hub's _is_true: 1, ON, YES, TRUE in any case.
func envTrue(v string) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

func expandHome(getenv func(string) string, p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home := getenv("HOME")
		if home == "" {
			if h, err := os.UserHomeDir(); err == nil {
				home = h
			}
		}
		return filepath.Join(home, strings.TrimPrefix(p, "~"))
	}
	return p
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
