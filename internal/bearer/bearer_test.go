package bearer

import (
	"bufio"
	"net/http"
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

func TestCheck(t *testing.T) {
	for tok, bad := range map[string]bool{
		"0123456789abcdef": false, "with inner space": false, "": false, "ünïcode": false,
		"token\n": true, " token": true, "token ": true, "tok\ten": true, "tok\x00en": true, "tok\x7fen": true,
	} {
		err := Check("--flag", tok)
		if (err != nil) != bad {
			t.Errorf("Check(%q) = %v, want error %v", tok, err, bad)
		}
		if err != nil && (strings.Contains(err.Error(), tok) || !strings.Contains(err.Error(), "--flag")) {
			t.Errorf("Check(%q) = %q: names the value or not the flag", tok, err)
		}
	}
}

// FuzzCheck: a token Check accepts is matched once it has travelled in an
// Authorization header through net/http's request parser.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"0123456789abcdef", "a b", "tok\n", " x", "x\t", "é", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		if tok == "" || Check("t", tok) != nil {
			return
		}
		raw := "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok + "\r\n\r\n"
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Fatalf("accepted %q, which no request can carry: %v", tok, err)
		}
		if !Match(r.Header.Get("Authorization"), tok) {
			t.Fatalf("accepted %q, which arrives as %q", tok, r.Header.Get("Authorization"))
		}
	})
}
