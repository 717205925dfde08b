package hub

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseURL: hf:// URLs come from jobs and prompt rows (docs/lora.md,
// docs/controlnet.md); any string either fails or names a valid repo and
// a file path that stays inside the repo's snapshot, and spells back the
// same.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"hf://o/r/a.png", "hf://o/r@v1/d/a.safetensors", "hf://o/r@refs/pr/1/x", "hf://o/r/../x",
		"hf://o/r/a//b", "hf://o/r@/x", "hf://o--r/n/x", "hf://u:p@o/r/x", "hf://o/r/a\\b", "hf://o/r/%2e%2e/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURL(s)
		if err != nil {
			return
		}
		if checkRepo(u.Repo) != nil || checkRepoPath(u.Path) != nil || (u.Revision != "" && checkRevision(u.Revision) != nil) {
			t.Fatalf("%q → %+v: an invalid part passed", s, u)
		}
		snap := "/cache/models--x/snapshots/c"
		if p := filepath.Join(snap, filepath.FromSlash(u.Path)); !strings.HasPrefix(p, snap+"/") {
			t.Fatalf("%q → %s outside the snapshot", s, p)
		}
		if u.String() != s {
			t.Fatalf("%q spells back as %q", s, u.String())
		}
	})
}
