package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sanafarm/sanafarm/protocol"
)

// Browser auth (docs/dashboard.md): the API keeps its bearer tokens; the
// login form checks a token against the API and stores it in an HttpOnly,
// SameSite=Strict cookie scoped to the dashboard, so page scripts never
// see it and other sites never send it. State-changing requests also carry
// a CSRF token derived from the session (HMAC of the token under a
// per-process key) in a header other origins cannot set without CORS, and
// must come from this origin when the browser says where they come from.

const (
	cookieName = "sanafarm_token"
	csrfHeader = "X-CSRF-Token"
	sessionTTL = 12 * time.Hour
	maxToken   = 4096 // bytes; a longer form value is refused unread
)

// session is one request's view of the user: the API acting with their
// token and the CSRF token their pages carry.
type session struct {
	api   API
	csrf  string
	token string // relayed to the event stream only (events.go)
}

type handler func(w http.ResponseWriter, r *http.Request, s *session)

// session resolves the user's token (none needed without auth) and sends
// a browser without one to the login page.
func (d *Dashboard) session(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := ""
		if d.cfg.AuthRequired {
			c, err := r.Cookie(cookieName)
			if err != nil || c.Value == "" {
				if r.Method == http.MethodGet {
					http.Redirect(w, r, Prefix+"login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
					return
				}
				http.Error(w, "not logged in", http.StatusUnauthorized)
				return
			}
			token = c.Value
		}
		if token != "" && d.cfg.ReadOnly != nil && d.cfg.ReadOnly(token) {
			r = r.WithContext(context.WithValue(r.Context(), viewerKey{}, true))
		}
		h(w, r, &session{api: d.cfg.Connect(token), csrf: d.csrfFor(token), token: token})
	}
}

// viewerKey marks a request of a read-only session (render: page.Viewer).
type viewerKey struct{}

// csrfFor is the CSRF token of a session: it names the session without
// revealing its API token.
func (d *Dashboard) csrfFor(token string) string {
	m := hmac.New(sha256.New, d.csrfKey)
	m.Write([]byte("csrf\x00" + token))
	return hex.EncodeToString(m.Sum(nil))
}

// csrf refuses a state-changing request without the session's CSRF token
// or from another origin.
func (d *Dashboard) csrf(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		got := r.Header.Get(csrfHeader)
		if !hmac.Equal([]byte(got), []byte(s.csrf)) {
			http.Error(w, "missing or wrong "+csrfHeader, http.StatusForbidden)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r) {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
		h(w, r, s)
	}
}

func sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	if !d.cfg.AuthRequired {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	d.render(w, r, "login", page{Title: "Log in", Next: safeNext(r.URL.Query().Get("next"))})
}

// login checks the token against the API (listing jobs needs it) before
// storing it; a wrong token is said so without echoing it.
func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 2*maxToken)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad login form", http.StatusBadRequest)
		return
	}
	token, next := strings.TrimSpace(r.PostForm.Get("token")), safeNext(r.PostForm.Get("next"))
	if !d.cfg.AuthRequired {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if token == "" || len(token) > maxToken {
		d.loginFailed(w, r, next, "enter the API token")
		return
	}
	if err := checkToken(r.Context(), d.cfg.Connect(token)); err != nil {
		var pe *protocol.Error
		switch {
		case errors.As(err, &pe) && pe.Code == protocol.CodeUnauthorized:
			d.loginFailed(w, r, next, "that token is not accepted")
		case errors.As(err, &pe) && pe.Code == protocol.CodeTooManyRequests:
			d.loginFailed(w, r, next, pe.Message) // throttled: the token was not checked
		default:
			d.loginFailed(w, r, next, "the API did not answer: "+err.Error())
		}
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: token, Path: Prefix, HttpOnly: true, Secure: d.cfg.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL.Seconds())})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (d *Dashboard) loginFailed(w http.ResponseWriter, r *http.Request, next, why string) {
	w.WriteHeader(http.StatusUnauthorized)
	d.render(w, r, "login", page{Title: "Log in", Next: next, Error: why})
}

// logout clears the cookie (a POST, so a link elsewhere cannot log a user
// out).
func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix, HttpOnly: true, Secure: d.cfg.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on the dashboard (no open redirect).
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}

// checkToken makes the cheapest call that needs a token: one job of one
// page (a farm's whole history otherwise).
func checkToken(ctx context.Context, a API) error {
	if pg, ok := a.(jobsPager); ok {
		_, err := pg.JobsPage(ctx, "", "", 1)
		return err
	}
	_, err := a.Jobs(ctx, "")
	return err
}
