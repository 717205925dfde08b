// Package bearer checks HTTP bearer tokens (RFC 6750) for the
// coordinator's API and the node's metrics endpoint alike.
package bearer

import (
	"crypto/subtle"
	"fmt"
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

// Check refuses a token that no request could ever present: one with a
// control character (a newline copied from a file, a tab) or with white
// space at either end, which HTTP trims from a header. Such a token used
// to be accepted at start, and every request was then refused. name is
// what the error calls it (a flag or variable, never the value).
func Check(name, token string) error {
	if strings.TrimSpace(token) != token {
		return fmt.Errorf("%s begins or ends with white space, which no Authorization header can carry: remove it", name)
	}
	for i, r := range token {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s has a control character at byte %d, which no Authorization header can carry", name, i)
		}
	}
	return nil
}
