package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestAllowFlags: --allow-read/--allow-write replace the defaults when
// given, take repeated and comma-separated roots, and a bad root is an
// error naming the flag.
func TestAllowFlags(t *testing.T) {
	for _, c := range []struct {
		name               string
		flags              allowFlags
		defaults           []string
		wantRead, wantWrit []string
		wantErr            string
	}{
		{"none", allowFlags{}, nil, []string{}, []string{}, ""},
		{"defaults", allowFlags{}, []string{"/d", "/w"}, []string{"/d", "/w"}, []string{"/d", "/w"}, ""},
		{"given replaces defaults", allowFlags{read: []string{"/p,s3://bkt/pre"}, write: []string{"file:///o", "s3://bkt/out"}},
			[]string{"/d"}, []string{"/p", "s3://bkt/pre"}, []string{"/o", "s3://bkt/out"}, ""},
		{"only write given", allowFlags{write: []string{"/o"}}, []string{"/d"}, []string{"/d"}, []string{"/o"}, ""},
		{"relative root", allowFlags{read: []string{"prompts"}}, nil, nil, nil, "--allow-read"},
		{"dotdot root", allowFlags{write: []string{"/a/../etc"}}, nil, nil, nil, "--allow-write"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := c.flags.access(c.defaults...)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, c.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(a.Read.Roots(), c.wantRead) || !slices.Equal(a.Write.Roots(), c.wantWrit) {
				t.Errorf("read %q write %q (%v)", a.Read.Roots(), a.Write.Roots(), err)
			}
		})
	}
}

// TestDevAllowDefaults: dev allows its data directory (made absolute) and
// the working directory, never the filesystem root.
func TestDevAllowDefaults(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	got, err := devAllowDefaults("rel/data")
	if err != nil || !slices.Equal(got, []string{filepath.Join(wd, "rel/data"), wd}) {
		t.Errorf("devAllowDefaults = %q (%v)", got, err)
	}
	if _, err := devAllowDefaults("/a,/etc"); err == nil || !strings.Contains(err.Error(), "--allow-read") {
		t.Errorf("a data dir with a comma: %v", err)
	}
	t.Chdir("/")
	if got, err := devAllowDefaults("/data"); err != nil || !slices.Equal(got, []string{"/data"}) {
		t.Errorf("from /: %q (%v), want only the data dir", got, err)
	}
}

// TestDevRefusesOutputOutsideAllowList: `sanafarm dev` refuses at submit
// an output outside its roots, with the field and the flag in the error.
func TestDevRefusesOutputOutsideAllowList(t *testing.T) {
	addr := startDev(t)
	code, _, stderr := sanafarm("submit", "--addr", addr, "--model", "sana-tiny", "-p", "a red fox",
		"--dest", "/proc/self/sanafarm-out")
	if code == 0 || !strings.Contains(stderr, "output.url") || !strings.Contains(stderr, "--allow-write") {
		t.Fatalf("submit exit %d: %s", code, stderr)
	}
}
