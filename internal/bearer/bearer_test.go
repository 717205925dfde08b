package bearer

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	const tok, other = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	tests := []struct {
		name, header string
		tokens       []string
		want         bool
	}{
		{"right", "Bearer " + tok, []string{tok}, true},
		{"scheme case", "bEaReR " + tok, []string{tok}, true},
		{"extra spaces", "Bearer   " + tok, []string{tok}, true},
		{"second token", "Bearer " + other, []string{tok, other}, true},
		{"wrong", "Bearer " + other, []string{tok}, false},
		{"prefix", "Bearer " + tok[:10], []string{tok}, false},
		{"longer", "Bearer " + tok + "x", []string{tok}, false},
		{"basic scheme", "Basic " + tok, []string{tok}, false},
		{"no scheme", tok, []string{tok}, false},
		{"empty header", "", []string{tok}, false},
		{"empty token never matches", "Bearer ", []string{""}, false},
		{"empty token skipped", "Bearer " + tok, []string{"", tok}, true},
		{"no tokens", "Bearer " + tok, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Match(tt.header, tt.tokens...); got != tt.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tt.header, tt.tokens, got, tt.want)
			}
		})
	}
}

// FuzzMatch: any header is judged without a panic, and one that matches
// is "Bearer" in any case, spaces, and exactly the token.
func FuzzMatch(f *testing.F) {
	const tok = "0123456789abcdef0123456789abcdef"
	for _, s := range []string{"Bearer " + tok, "bearer  " + tok, "Bearer", "Bearer ", "", " " + tok, "Basic x", "Bearer " + tok + " ", "Bearer\t" + tok} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		if !Match(header, tok) {
			return
		}
		scheme, rest, _ := strings.Cut(header, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimLeft(rest, " ") != tok {
			t.Errorf("Match(%q) with token %q", header, tok)
		}
	})
}
