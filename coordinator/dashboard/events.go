package dashboard

import (
	"net/http"
	"net/url"

	"github.com/sanafarm/sanafarm/coordinator/api"
)

// events relays the API's event stream to the page with the session's
// token (an EventSource cannot send an Authorization header; the cookie
// stays between the browser and the dashboard). Only the stream's own
// query parameters and Last-Event-ID pass through.
func (d *Dashboard) events(w http.ResponseWriter, r *http.Request, s *session) {
	if d.cfg.Events == nil {
		http.NotFound(w, r)
		return
	}
	q := url.Values{}
	for _, k := range []string{"job", "node", "since"} {
		if v, ok := r.URL.Query()[k]; ok {
			q[k] = v
		}
	}
	r2 := r.Clone(r.Context())
	r2.URL = &url.URL{Path: api.PathEvents, RawQuery: q.Encode()}
	r2.RequestURI = ""
	r2.Header = http.Header{}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		r2.Header.Set("Last-Event-ID", id)
	}
	if s.token != "" {
		r2.Header.Set("Authorization", "Bearer "+s.token)
	}
	d.cfg.Events.ServeHTTP(w, r2)
}
