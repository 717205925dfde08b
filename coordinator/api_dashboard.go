package coordinator

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/coordinator/dashboard"
	"github.com/sanafarm/sanafarm/internal/bearer"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// mountDashboard serves the web UI under /ui/ and sends / there. The
// dashboard calls this same API in process with the user's token
// (coordinator/dashboard), so it gets the API's auth, limits and
// follower-to-leader forwarding, and no second way into the state.
func mountDashboard(mux *http.ServeMux, cfg apiConfig) {
	self := &http.Client{Transport: inProcess{mux}, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	readOnly := func(token string) bool { return cfg.readToken != "" && bearer.Match("Bearer "+token, cfg.readToken) }
	d := dashboard.New(dashboard.Config{AuthRequired: cfg.token != "", ReadOnly: readOnly, Secure: cfg.secure, Logger: cfg.log,
		Image: boundedImages(maxThumbnailReads, sampleImage), Open: outputObject, Events: mux,
		Connect: func(token string) dashboard.API {
			c := client.New("http://in-process", token)
			c.HTTP = self
			return c
		}})
	mux.Handle(dashboard.Prefix, withRemoteAddr(d)) // its API calls count against the browser's address (authlimit.go)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, dashboard.Prefix, http.StatusSeeOther)
	})
}

// maxThumbnailReads bounds the thumbnails read at once: each decodes its
// shard's stats (up to storage.MaxStatsBytes, a node's writing), and a
// page of them, or many browsers, must not multiply that in the
// coordinator's memory.
const maxThumbnailReads = 4

// imageFunc reads one sample's PNG (dashboard.Config.Image).
type imageFunc = func(ctx context.Context, j protocol.Job, shard, i int) ([]byte, error)

// boundedImages runs at most n calls of f at once; the others wait, as
// long as their request lasts.
func boundedImages(n int, f imageFunc) imageFunc {
	sem := make(chan struct{}, n)
	return func(ctx context.Context, j protocol.Job, shard, i int) ([]byte, error) {
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return f(ctx, j, shard, i)
	}
}

// sampleImage reads a thumbnail from a job's published output (an output
// the coordinator accepted at submit, under its --allow-write roots).
func sampleImage(ctx context.Context, j protocol.Job, shard, i int) ([]byte, error) {
	st, err := storage.Open(ctx, j.Spec.Output.URL)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return storage.SampleImage(ctx, st, "", shard, i)
}

// outputObject opens an object of a job's published output (its manifest,
// a shard's stats) for the dashboard's links.
func outputObject(ctx context.Context, j protocol.Job, key string) (io.ReadCloser, error) {
	st, err := storage.Open(ctx, j.Spec.Output.URL)
	if err != nil {
		return nil, err
	}
	rc, err := st.Get(ctx, key)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &closeWith{ReadCloser: rc, also: st}, nil
}

// closeWith closes a store with the object read from it.
type closeWith struct {
	io.ReadCloser
	also io.Closer
}

func (c *closeWith) Close() error { return errors.Join(c.ReadCloser.Close(), c.also.Close()) }

// inProcess answers requests with a handler, without a network hop.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	res := rec.Result()
	res.Request = r
	return res, nil
}
