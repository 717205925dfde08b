package protocol

import (
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestNodeInfoCompute(t *testing.T) {
	for _, c := range []struct {
		info NodeInfo
		want string
	}{
		{NodeInfo{Backend: "cpu"}, "cpu"},
		{NodeInfo{Backend: "cpu", Precision: "f32"}, "cpu · f32"},
		{NodeInfo{Backend: "cuda", Precision: "bf16", CUDAGraphs: true}, "cuda · bf16 · graphs"},
		{NodeInfo{Backend: "cuda", CUDAGraphs: true}, "cuda · graphs"},
	} {
		if got := c.info.Compute(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.info, got, c.want)
		}
	}
}

// TestNodeInfoSanitized: a hostile announcement cannot forge table rows or
// flood a terminal: control characters are replaced, invalid UTF-8 too,
// long fields are cut at a rune boundary; ordinary values pass unchanged.
func TestNodeInfoSanitized(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	for _, c := range []struct {
		in, want string
	}{
		{"cuda", "cuda"},
		{"", ""},
		{"bf16\n" + "n2\tup\tcuda", "bf16?n2?up?cuda"},
		{"\x1b[31mred", "?[31mred"},
		{"bad\xffutf8", "bad?utf8"},
		{long, strings.Repeat("é", 64)},
	} {
		got := NodeInfo{Host: c.in, Version: c.in, Backend: c.in, Precision: c.in, DrainReason: c.in}.Sanitized()
		for _, f := range []string{got.Host, got.Version, got.Backend, got.Precision, got.DrainReason} {
			if f != c.want {
				t.Errorf("%q: %q, want %q", c.in, f, c.want)
			}
		}
	}
}

// TestSanitizedUnreachableSince: a time the coordinators could not order
// (negative, or past year 9999, where time.Unix wraps) reads as not said.
func TestSanitizedUnreachableSince(t *testing.T) {
	for in, want := range map[int64]int64{-1: 0, 0: 0, 1_800_000_000: 1_800_000_000, maxUnixSeconds: maxUnixSeconds,
		maxUnixSeconds + 1: 0, math.MaxInt64: 0} {
		if got := (NodeInfo{LeaderUnreachable: true, LeaderUnreachableSince: in}).Sanitized().LeaderUnreachableSince; got != want {
			t.Errorf("since %d: %d, want %d", in, got, want)
		}
	}
	if got := (NodeInfo{LeaderUnreachableSince: 5}).Sanitized().LeaderUnreachableSince; got != 0 {
		t.Errorf("not flagged: since %d, want 0", got)
	}
	if !time.Unix(maxUnixSeconds, 0).After(time.Unix(1_800_000_000, 0)) {
		t.Error("the bound is past where time.Unix orders correctly")
	}
}

func FuzzNodeInfoSanitized(f *testing.F) {
	for _, s := range []string{"", "cuda", "a\nb", "\xff\xfe", strings.Repeat("€", 60)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := NodeInfo{Host: s}.Sanitized().Host
		if len(got) > maxNodeLabel || !utf8.ValidString(got) || strings.ContainsFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("%q → %q", s, got)
		}
	})
}
