package diskroom

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	free, err := Free(dir)
	if err != nil || free <= 0 {
		t.Fatalf("free %d, %v", free, err)
	}
	missing := filepath.Join(dir, "not", "yet")
	if f, err := Free(missing); err != nil || f <= 0 {
		t.Fatalf("a folder not made yet: free %d, %v (want its parent's)", f, err)
	}
	cases := []struct {
		name        string
		need, limit int64
		want        string
	}{
		{"small", 1 << 20, 0, ""},
		{"nothing", 0, 1, ""},
		{"unknown size", -1, 0, ""},
		{"past the limit", 3 << 30, 2 << 30, "x needs 3.0 GiB, more than this node downloads for one model (2.0 GiB; --max-model-bytes)"},
		{"past the disk", free + 1, 0, "but the disk of " + missing + " has "},
		{"into the reserve", free - Reserve/2, 0, "kept in reserve"},
	}
	for _, tc := range cases {
		err := Check("x", missing, tc.need, tc.limit)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v does not say ErrRefused", tc.name, err)
		}
	}
}

// TestFits: 1 GiB kept free, or half of what is free on a disk with less
// than 2 GiB free (a CI machine once had 287 MiB).
func TestFits(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		need, free int64
		ok         bool
	}{
		{100 * mib, 287 * mib, true}, {143 * mib, 287 * mib, true}, {144 * mib, 287 * mib, false},
		{74 << 30, 75 << 30, true}, {74<<30 + 1, 75 << 30, false}, {2, 2, false}, {0, 0, true},
	} {
		if _, ok := fits(c.need, c.free); ok != c.ok {
			t.Errorf("need %d of %d free: %v, want %v", c.need, c.free, ok, c.ok)
		}
	}
}
