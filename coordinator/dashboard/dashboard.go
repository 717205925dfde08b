// Package dashboard is the coordinator's web UI (docs/dashboard.md):
// server-rendered html/template pages for jobs, one job, nodes and the
// cluster, a little of our own JavaScript that refreshes them in place
// and sends actions, everything embedded in the binary (clusters run in
// private networks: no CDN, nothing fetched at run time).
//
// The dashboard reads and changes the farm only through the coordinator's
// own v1 API, called in process with the user's token (Config.Connect), so
// it inherits the API's authorization, its follower-to-leader forwarding
// and its limits; it holds no state of its own besides a per-process
// CSRF key.
package dashboard

import (
	"context"
	"crypto/rand"
	"embed"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// Prefix is where the dashboard is mounted.
const Prefix = "/ui/"

// API is what the dashboard reads and changes: coordinator/client's
// methods, acting with one user's token.
type API interface {
	Jobs(ctx context.Context, state protocol.JobState) ([]protocol.Job, error)
	Job(ctx context.Context, id protocol.JobID, withTasks bool, from, limit int) (api.JobDetail, error)
	Nodes(ctx context.Context) ([]api.NodeStatus, error)
	Health(ctx context.Context) (api.Health, error)
	SubmitJob(ctx context.Context, spec protocol.JobSpec) (protocol.Job, error)
	Cancel(ctx context.Context, id protocol.JobID, reason string) (protocol.Job, error)
	Pause(ctx context.Context, id protocol.JobID) (protocol.Job, error)
	Resume(ctx context.Context, id protocol.JobID) (protocol.Job, error)
	Retry(ctx context.Context, id protocol.JobID) (protocol.Job, error)
	SetPriority(ctx context.Context, id protocol.JobID, prio int) (protocol.Job, error)
	Delete(ctx context.Context, id protocol.JobID, force bool) error
	Drain(ctx context.Context, node string, disable bool) (api.NodeStatus, error)
	Undrain(ctx context.Context, node string) (api.NodeStatus, error)
}

// Config configures the dashboard.
type Config struct {
	// Connect returns the API acting with token ("" when the API has no
	// tokens). Required.
	Connect func(token string) API
	// AuthRequired is true when the API checks bearer tokens: the
	// dashboard then asks for one and keeps it in an HttpOnly,
	// SameSite=Strict cookie.
	AuthRequired bool
	// ReadOnly reports whether a token may only read (the API's read
	// token): its pages then show no actions and no submit form, and say
	// "read-only". The API refuses its writes either way. nil: none is.
	ReadOnly func(token string) bool
	// Secure marks the cookie Secure (the API is served over TLS).
	Secure bool
	// Logger receives failed API calls (default: discard).
	Logger *slog.Logger
	// Now is the clock of ages, rates and ETAs (default time.Now).
	Now func() time.Time
	// Events serves the API's event stream (GET /v1/events, Server-Sent
	// Events) with a bearer token; the dashboard hands it the user's token
	// at /ui/events so pages refresh on events instead of polling. nil:
	// pages poll.
	Events http.Handler
	// Image reads the PNG of sample i of a finished shard of job from its
	// output (storage.SampleImage); nil: no thumbnails. The dashboard calls
	// it only after the API showed the user the job.
	Image func(ctx context.Context, job protocol.Job, shard, i int) ([]byte, error)
	// Open reads an object of a job's output by key (its manifest, a
	// shard's stats); nil: no such links.
	Open func(ctx context.Context, job protocol.Job, key string) (io.ReadCloser, error)
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Dashboard serves the pages under Prefix.
type Dashboard struct {
	cfg     Config
	log     *slog.Logger
	tmpl    *template.Template
	csrfKey []byte
	mux     *http.ServeMux
}

// New parses the embedded templates (a broken template is a programming
// error found by the tests, so it panics).
func New(cfg Config) *Dashboard {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &Dashboard{cfg: cfg, log: cfg.Logger, csrfKey: make([]byte, 32)}
	_, _ = rand.Read(d.csrfKey) // crypto/rand.Read never fails (Go ≥ 1.24)
	d.tmpl = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html"))
	static, _ := fs.Sub(staticFS, "static")
	m := http.NewServeMux()
	m.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", cacheStatic(http.FileServerFS(static))))
	m.HandleFunc("GET "+Prefix+"login", d.loginPage)
	m.HandleFunc("POST "+Prefix+"login", d.login)
	m.HandleFunc("POST "+Prefix+"logout", d.logout)
	m.HandleFunc("GET "+Prefix+"{$}", d.session(d.jobsPage))
	m.HandleFunc("GET "+Prefix+"jobs/{id}", d.session(d.jobPage))
	m.HandleFunc("GET "+Prefix+"jobs/{id}/images/{shard}/{i}", d.session(d.image))
	m.HandleFunc("GET "+Prefix+"jobs/{id}/manifest.jsonl", d.session(d.outputFile))
	m.HandleFunc("GET "+Prefix+"jobs/{id}/stats/{shard}", d.session(d.outputFile))
	m.HandleFunc("GET "+Prefix+"nodes", d.session(d.nodesPage))
	m.HandleFunc("GET "+Prefix+"cluster", d.session(d.clusterPage))
	m.HandleFunc("GET "+Prefix+"events", d.session(d.events))
	m.HandleFunc("POST "+Prefix+"jobs/{id}/{action}", d.session(d.csrf(d.jobAction)))
	m.HandleFunc("POST "+Prefix+"submit", d.session(d.csrf(d.submit)))
	m.HandleFunc("POST "+Prefix+"nodes/{id}/{action}", d.session(d.csrf(d.nodeAction)))
	d.mux = m
	return d
}

// ServeHTTP serves the dashboard; every page carries headers that keep
// it out of frames and other origins' scripts.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	d.mux.ServeHTTP(w, r)
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}
