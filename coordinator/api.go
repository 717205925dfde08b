package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/internal/bearer"
	"github.com/sanafarm/sanafarm/protocol"
)

// backend is what the HTTP layer needs from the server (a fake in tests).
type backend interface {
	SubmitJob(ctx context.Context, id protocol.JobID, spec protocol.JobSpec) (protocol.Job, error)
	CancelJob(ctx context.Context, id protocol.JobID, reason string) (protocol.Job, error)
	JobDetail(id protocol.JobID, from, limit int) (api.JobDetail, bool)
	JobsPage(state protocol.JobState, after protocol.JobID, limit int) ([]protocol.Job, protocol.JobID, bool)
	Nodes() []api.NodeStatus
	Health() api.Health
	IsLeader() bool
	controlBackend
	// forwardLeader says where a follower would forward a write (checked
	// by verifyLeader before any request leaves).
	forwardLeader(ctx context.Context) (leaderInfo, error)
}

var _ backend = (*Server)(nil)

// forwardedHeader marks a write a follower forwarded (never forwarded twice).
const forwardedHeader = "X-Sanafarm-Forwarded-By"

type apiConfig struct {
	token string
	// readToken, when set, is a second token that may read but not write
	// (api_read.go); metricsToken, when set, guards /metrics
	// (api_metrics.go).
	readToken, metricsToken string
	log                     *slog.Logger
	metrics                 prometheus.Gatherer
	id                      string
	// forward carries writes proxied to the leader (nil: the default
	// transport; mutual TLS with cluster TLS, see forwardTransport).
	forward http.RoundTripper
	// lookupHost resolves host names when checking a leader's URL against
	// its Raft address (nil: net.DefaultResolver; a fake in tests).
	lookupHost func(ctx context.Context, host string) ([]string, error)
	// secure: the API is served over TLS (the dashboard's cookie is Secure).
	secure bool
	// events is the event stream's hub (nil: GET /v1/events answers 503).
	events *eventHub
	// authLimit throttles clients that send wrong tokens (authlimit.go;
	// nil: a fresh one).
	authLimit *authLimiter
	// proxies name clients in X-Forwarded-For (realclient.go).
	proxies []netip.Prefix
}

type apiServer struct {
	b   backend
	cfg apiConfig
}

// newAPI builds the v1 routes. Writes on a follower are proxied to the
// leader once its URL is verified (see onLeader); reads are served locally.
func newAPI(b backend, cfg apiConfig) http.Handler {
	if cfg.authLimit == nil {
		cfg.authLimit = newAuthLimiter(nil, cfg.log)
	}
	a := &apiServer{b: b, cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.PathJobs, a.authWrite(a.onLeader(a.submit)))
	mux.HandleFunc("GET "+api.PathJobs, a.authRead(a.list))
	mux.HandleFunc("GET "+api.PathJobs+"/{id}", a.authRead(a.get))
	mux.HandleFunc("POST "+api.PathJobs+"/{id}/cancel", a.authWrite(a.onLeader(a.cancel)))
	mux.HandleFunc("GET "+api.PathNodes, a.authRead(a.nodes))
	mux.HandleFunc("GET "+api.PathEvents, a.authRead(a.events))
	a.routeControl(mux)
	mux.HandleFunc("GET "+api.PathHealth, a.health)
	if cfg.metrics != nil {
		mux.HandleFunc("GET "+api.PathMetrics, a.metricsHandler())
	}
	mountDashboard(mux, cfg)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &protocol.Error{Code: protocol.CodeNotFound, Message: fmt.Sprintf("no route %s %s", r.Method, shortValue(r.URL.Path)),
			Fields: []protocol.FieldError{{Field: "path", Value: r.Method + " " + shortValue(r.URL.Path), Problem: "no such route"}}})
	})
	return realClient(mux, cfg.proxies)
}

// authAny lets through requests that bear one of tokens; with none set
// (all empty) it lets everything through.
func (a *apiServer) authAny(h http.HandlerFunc, tokens ...string) http.HandlerFunc {
	if !slices.ContainsFunc(tokens, func(t string) bool { return t != "" }) {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		switch ok, wait := a.tokenOK(r, tokens...); {
		case wait > 0:
			writeThrottled(w, wait)
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="sanafarm"`)
			writeError(w, protocol.Errorf(protocol.CodeUnauthorized, "missing or wrong bearer token"))
		default:
			h(w, r)
		}
	}
}

// tokenOK checks r's bearer token, unless its client is throttled (wait >
// 0: the token was refused unchecked, or checked only against the strong
// tokens). A wrong token spends the client's budget; a missing one does
// not (a browser's first visit, a probe).
func (a *apiServer) tokenOK(r *http.Request, tokens ...string) (ok bool, wait time.Duration) {
	client, header := clientKey(r), r.Header.Get("Authorization")
	if header == "" {
		if wait, throttled := a.cfg.authLimit.throttled(client); throttled {
			return false, wait
		}
		return false, 0
	}
	refund, wait, ok := a.cfg.authLimit.try(client)
	if !ok {
		// Throttled. A strong token still passes (authlimit.go,
		// strongTokenLen): behind a load balancer every client has its
		// address, and one guesser must not lock all of them out.
		if bearer.Match(header, strongTokens(tokens)...) {
			return true, 0
		}
		return false, wait
	}
	if bearer.Match(header, tokens...) {
		refund()
		return true, 0
	}
	return false, 0
}

func (a *apiServer) submit(w http.ResponseWriter, r *http.Request) {
	var spec protocol.JobSpec
	body, err := decodeBodyBytes(w, r, &spec)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := validateSpec(spec, body); err != nil {
		writeError(w, err)
		return
	}
	id := protocol.JobID(r.URL.Query().Get("id"))
	if id != "" {
		if err := protocol.CheckJobID(id); err != nil {
			writeError(w, err)
			return
		}
	}
	j, err := a.b.SubmitJob(r.Context(), id, spec)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, j)
}

func (a *apiServer) list(w http.ResponseWriter, r *http.Request) {
	st := protocol.JobState(r.URL.Query().Get("state"))
	switch st {
	case "", protocol.JobQueued, protocol.JobRunning, protocol.JobDone, protocol.JobFailed, protocol.JobCancelled:
	default:
		writeError(w, &protocol.Error{Code: protocol.CodeBadRequest, Message: "unknown job state",
			Fields: []protocol.FieldError{{Field: "state", Value: string(st), Problem: "want queued, running, done, failed or cancelled"}}})
		return
	}
	after, limit, perr := parseJobQuery(r.URL.Query())
	if perr != nil {
		writeError(w, perr)
		return
	}
	jobs, next, ok := a.b.JobsPage(st, after, limit)
	if !ok {
		writeError(w, &protocol.Error{Code: protocol.CodeBadRequest, Message: "unknown cursor",
			Fields: []protocol.FieldError{{Field: "after", Value: shortValue(string(after)), Problem: "no such job, nor a recently deleted one: list again from the first page"}}})
		return
	}
	for i := range jobs {
		jobs[i] = api.Listed(jobs[i]) // no prompts in listings (api.JobList)
	}
	writeJSON(w, http.StatusOK, api.JobList{Jobs: jobs, Next: next})
}

func (a *apiServer) get(w http.ResponseWriter, r *http.Request) {
	from, limit, err := parseTaskQuery(r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	id := r.PathValue("id")
	d, ok := a.b.JobDetail(protocol.JobID(id), from, limit)
	if !ok {
		writeError(w, jobNotFound(id))
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *apiServer) cancel(w http.ResponseWriter, r *http.Request) {
	var req api.CancelRequest
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, &req); err != nil && !errors.Is(err, errEmptyBody) {
			writeError(w, err)
			return
		}
	}
	if err := checkReason(req.Reason); err != nil {
		writeError(w, err)
		return
	}
	j, err := a.b.CancelJob(r.Context(), protocol.JobID(r.PathValue("id")), req.Reason)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (a *apiServer) nodes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, api.NodeList{Nodes: a.b.Nodes()})
}

// health needs no token (load balancers and probes call it), so without
// the token it leaves out what maps the cluster for an attacker: the
// voters' addresses and the etcd error text (which names endpoints).
func (a *apiServer) health(w http.ResponseWriter, r *http.Request) {
	h := a.b.Health()
	if a.cfg.token != "" {
		// A full answer tells a right token from a wrong one, so it
		// spends the same budget as any other check.
		if ok, _ := a.tokenOK(r, a.cfg.token, a.cfg.readToken); !ok {
			h = publicHealth(h)
		}
	}
	writeJSON(w, http.StatusOK, h)
}

// publicHealth is h without addresses and error texts.
func publicHealth(h api.Health) api.Health {
	h.LeaderAddr = ""
	voters := make([]api.Voter, len(h.Voters))
	for i, v := range h.Voters {
		v.Address, v.DataFreeBytes = "", 0
		voters[i] = v
	}
	h.Voters = voters
	h.JobSpecBytes, h.MaxJobBytes, h.FeaturesInUse, h.DataFreeBytes, h.MinDataFree, h.EtcdMembers = 0, 0, nil, 0, 0, nil
	switch {
	case h.Etcd == "ok" || h.Etcd == "none" || h.Etcd == "":
	case strings.HasPrefix(h.Etcd, "alarm "):
		h.Etcd = "alarm"
	default:
		h.Etcd = "unreachable"
	}
	return h
}

var errEmptyBody = bodyError(protocol.CodeBadRequest, `""`, "empty request body")

// reFieldBefore finds the JSON key just before a syntax error.
var reFieldBefore = regexp.MustCompile(`"([^"\\]+)"\s*:\s*$`)

// decodeBody reads a JSON body of at most api.MaxBody bytes into v,
// turning decoding problems into bad_request errors naming the field.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	_, err := decodeBodyBytes(w, r, v)
	return err
}

// decodeBodyBytes is decodeBody that also returns the raw body.
func decodeBodyBytes(w http.ResponseWriter, r *http.Request, v any) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, api.MaxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, errTooLarge()
	case err != nil:
		return nil, bodyError(protocol.CodeBadRequest, "", fmt.Sprintf("reading the body: %v", err))
	case len(bytes.TrimSpace(body)) == 0:
		return nil, errEmptyBody
	}
	return body, decodeJSONBytes(body, v)
}

func decodeJSONBytes(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(body, err)
	}
	if dec.More() {
		rest := bytes.TrimSpace(body[min(max(dec.InputOffset(), 0), int64(len(body))):])
		return bodyError(protocol.CodeBadRequest, shortValue(string(rest)), "trailing data after the JSON body")
	}
	return nil
}

func jsonError(body []byte, err error) *protocol.Error {
	e := protocol.Errorf(protocol.CodeBadRequest, "invalid JSON body: %v", err)
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off := min(max(se.Offset, 0), int64(len(body)))
		field := "(body)"
		if m := reFieldBefore.FindSubmatch(body[:max(off-1, 0)]); m != nil {
			field = string(m[1])
		}
		near := string(bytes.TrimSpace(body[max(off-16, 0):min(off+16, int64(len(body)))]))
		e.Fields = []protocol.FieldError{{Field: field, Value: shortValue(near), Problem: "not valid JSON: " + se.Error()}}
	case errors.As(err, &te):
		field := te.Field
		if field == "" { // the body itself, e.g. `0` or `[]`
			field = "(body)"
		}
		e.Fields = []protocol.FieldError{{Field: field, Value: te.Value, Problem: fmt.Sprintf("want %v", te.Type)}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if f == "" {
			f = `""` // the empty key
		}
		e.Fields = []protocol.FieldError{{Field: f, Problem: "unknown field"}}
	}
	return e
}

// statusOf maps error codes to HTTP statuses.
func statusOf(c protocol.Code) int {
	switch c {
	case protocol.CodeBadRequest:
		return http.StatusBadRequest
	case protocol.CodeUnauthorized:
		return http.StatusUnauthorized
	case protocol.CodeForbidden:
		return http.StatusForbidden
	case protocol.CodeNotFound:
		return http.StatusNotFound
	case protocol.CodeConflict, protocol.CodeStaleAttempt:
		return http.StatusConflict
	case protocol.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case protocol.CodeInsufficientStorage:
		return http.StatusInsufficientStorage
	case protocol.CodeTooManyRequests:
		return http.StatusTooManyRequests
	case protocol.CodeNotLeader, protocol.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error) {
	e := wireError(err)
	if e.Code == protocol.CodeNotLeader || e.Code == protocol.CodeUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, statusOf(e.Code), e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
