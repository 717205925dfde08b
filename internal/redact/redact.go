// Package redact hides credentials in URLs before they reach a log line
// or an error: NATS, etcd and S3 addresses may carry a password (or, for
// NATS, a token) in their userinfo.
package redact

import (
	"regexp"
	"strings"
)

// Mask replaces each credential.
const Mask = "xxxxx"

// userinfo matches the userinfo of every URL in a string (one URL or a
// comma- or space-separated list such as a NATS server list). The
// userinfo runs to the last '@' of the authority (before the first '/',
// '?', '#', space or comma), as url.Parse and the NATS client split it:
// the greedy class takes in any '@' of a password, so that
// "farm:p@ss@host" masks all of "p@ss", not just "p".
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)([^/?#\s,]*)@`)

// URL returns s with the secret part of every URL's userinfo masked:
// "user:password@" becomes "user:xxxxx@" and a lone "token@" becomes
// "xxxxx@" (a NATS URL with only a user part carries a token, which
// url.URL.Redacted and nats.Conn.ConnectedUrlRedacted keep visible).
// Strings that are not URLs come back unchanged.
func URL(s string) string {
	return userinfo.ReplaceAllStringFunc(s, func(m string) string {
		sub := userinfo.FindStringSubmatch(m)
		scheme, info := sub[1], sub[2]
		if i := strings.IndexByte(info, ':'); i >= 0 {
			return scheme + info[:i] + ":" + Mask + "@"
		}
		return scheme + Mask + "@"
	})
}

// Error returns err with URL applied to its message; errors.Is and
// errors.As still see the original.
func Error(err error) error {
	if err == nil {
		return nil
	}
	return redacted{err}
}

type redacted struct{ err error }

func (r redacted) Error() string { return URL(r.err.Error()) }
func (r redacted) Unwrap() error { return r.err }
