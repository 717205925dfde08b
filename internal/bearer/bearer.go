// Package bearer checks HTTP bearer tokens (RFC 6750) for the
// coordinator's API and the node's metrics endpoint alike.
package bearer

import (
	"crypto/subtle"
	"strings"
)

// Match reports whether an Authorization header carries one of tokens
// (empty tokens never match). The scheme is case-insensitive (RFC 7235
// section 2.1: "bearer" is "Bearer"); every token is compared in constant
// time, and all of them are, so the time taken does not tell which one
// was close.
func Match(header string, tokens ...string) bool {
	scheme, got, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got = strings.TrimLeft(got, " ")
	match := 0
	for _, t := range tokens {
		if t != "" {
			match |= subtle.ConstantTimeCompare([]byte(got), []byte(t))
		}
	}
	return match == 1
}
