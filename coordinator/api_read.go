package coordinator

import (
	"fmt"
	"net/http"

	"github.com/sanafarm/sanafarm/internal/bearer"
	"github.com/sanafarm/sanafarm/protocol"
)

// A farm shared with other people needs a way to let them look without
// letting them act: Config.ReadToken is a second bearer token that reads
// everything the API token reads (jobs, nodes, events, the full health,
// /metrics, the dashboard's pages) and writes nothing — a submit, cancel,
// job or node control with it is 403 forbidden, on a follower before
// anything is forwarded. The dashboard logs in with either; a viewer's
// buttons get the 403 as their message (docs/dashboard.md).

// authRead lets through requests bearing the API or the read token.
func (a *apiServer) authRead(h http.HandlerFunc) http.HandlerFunc {
	return a.authAny(h, a.cfg.token, a.cfg.readToken)
}

// authWrite lets through requests bearing the API token. The read token
// is known, not wrong: it is refused with 403 rather than 401, and spends
// none of its client's budget of wrong tokens (authlimit.go).
func (a *apiServer) authWrite(h http.HandlerFunc) http.HandlerFunc {
	if a.cfg.readToken == "" {
		return a.authAny(h, a.cfg.token)
	}
	return a.authAny(func(w http.ResponseWriter, r *http.Request) {
		if !bearer.Match(r.Header.Get("Authorization"), a.cfg.token) {
			writeError(w, protocol.Errorf(protocol.CodeForbidden,
				"%s %s: the read-only token may not change anything; use the API token", r.Method, shortValue(r.URL.Path)))
			return
		}
		h(w, r)
	}, a.cfg.token, a.cfg.readToken)
}

// checkReadToken refuses a read token without an API token (there would
// be nothing to withhold) or equal to it (it would write).
func checkReadToken(read, token string) error {
	for _, t := range []struct{ name, v string }{{"Token", token}, {"ReadToken", read}} {
		if err := bearer.Check("config: "+t.name, t.v); err != nil {
			return err
		}
	}
	switch {
	case read == "":
		return nil
	case token == "":
		return fmt.Errorf("config: ReadToken needs Token: without an API token every request may write")
	case read == token:
		return fmt.Errorf("config: ReadToken is Token: give the read-only token its own value")
	}
	return nil
}
