package protocol

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAllowListCheck is the matcher: traversal, relative paths, foreign
// hosts, prefix boundaries and bucket mismatches are refused.
func TestAllowListCheck(t *testing.T) {
	l := MustAllowList("/srv/prompts,file:///data/out", "s3://farm/pre", "s3://whole")
	for _, c := range []struct {
		url     string
		allowed bool
		problem string // part of the error when refused
	}{
		{"/srv/prompts/a.txt", true, ""},
		{"/srv/prompts", true, ""},
		{"/srv/prompts/", true, ""},
		{"file:///srv/prompts/x/y.jsonl", true, ""},
		{"file://localhost/data/out/job1", true, ""},
		{"FILE:///data/out/job1", true, ""},
		{"/data/out/./job1", true, ""},
		{"s3://farm/pre", true, ""},
		{"s3://farm/pre/", true, ""},
		{"s3://farm/pre/job/out", true, ""},
		{"S3://farm/pre/job", true, ""},
		{"s3://whole/any/key.txt", true, ""},
		{"s3://whole", true, ""},

		{"/proc/self/environ", false, "outside"},
		{"file:///proc/self/environ", false, "outside"},
		{"/etc/passwd", false, "outside"},
		{"/srv/prompts2/a.txt", false, "outside"},
		{"/srv", false, "outside"},
		{"/srv/prompts/../../etc/passwd", false, ".. element"},
		{"file:///data/out/../../proc/self/environ", false, ".. element"},
		{"file:///data/out/%2e%2e/%2e%2e/etc", false, ".. element"},
		{"/data/out/..", false, ".. element"},
		{`/data/out/..\x`, false, ".. element"},
		{"out/job1", false, "relative"},
		{"./out", false, "relative"},
		{"../data/out", false, "relative"},
		{"file:relative/x", false, "relative"},
		{"file://evil.example/data/out", false, "not host"},
		{"file://", false, "no path"},
		{"http://farm/pre", false, "unknown scheme"},
		{"", false, "empty"},
		{"/data/out/a\x00b", false, "NUL"},
		{"s3://farm/prefix2/x", false, "outside"},
		{"s3://farm/pr", false, "outside"},
		{"s3://farm", false, "outside"},
		{"s3://other/pre/x", false, "outside"},
		{"s3://farm/pre/../secret", false, "key"},
		{"s3://farm/pre//x", false, "key"},
		{"s3://farm/pre/x?versionId=1", false, "query"},
		{"s3://Bad_Bucket/x", false, "bucket"},
	} {
		t.Run(c.url, func(t *testing.T) {
			err := l.Check(c.url)
			if c.allowed {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.problem) {
				t.Fatalf("err %v, want one mentioning %q", err, c.problem)
			}
			if c.problem == "outside" && !errors.Is(err, ErrNotAllowed) {
				t.Errorf("err %v does not wrap ErrNotAllowed", err)
			}
		})
	}
}

func TestParseAllowListRejectsBadRoots(t *testing.T) {
	for _, v := range []string{"relative/dir", "/a/../b", "file://host/x", "s3://", "ftp://x/y"} {
		if _, err := ParseAllowList(v); err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("ParseAllowList(%q) = %v, want an error naming it", v, err)
		}
	}
	l, err := ParseAllowList("", " /a , s3://bkt/p/ ", ",")
	if err != nil || strings.Join(l.Roots(), " ") != "/a s3://bkt/p" {
		t.Errorf("roots %q (%v)", l.Roots(), err)
	}
}

func TestAllowListEmptyDeniesAll(t *testing.T) {
	var l AllowList
	for _, u := range []string{"/tmp/x", "s3://bucket/x", "/"} {
		if err := l.Check(u); !errors.Is(err, ErrNotAllowed) {
			t.Errorf("empty list: Check(%q) = %v", u, err)
		}
	}
	if err := MustAllowList("/").Check("/proc/self/environ"); err != nil {
		t.Errorf("root / refuses an absolute path: %v", err)
	}
}

// TestAllowListSymlinkEscape: a symlink inside an allowed root that points
// outside it (to a file, a directory, or nowhere yet) is refused once
// symlinks are resolved; one that stays inside is allowed.
func TestAllowListSymlinkEscape(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "environ")
	if err := os.WriteFile(secret, []byte("AWS_SECRET_ACCESS_KEY=x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"file": secret, "dir": outside, "dangling": filepath.Join(outside, "missing", "dir"),
		"proc": "/proc/self", "inside": filepath.Join(root, "real"),
	} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	l := MustAllowList(root).ResolvingSymlinks()
	for _, c := range []struct {
		path    string
		allowed bool
	}{
		{"real/prompts.txt", true},
		{"new/out/dir", true},
		{"inside/out", true},
		{"file", false},
		{"dir/x", false},
		{"dir", false},
		{"dangling", false},
		{"dangling/sub", false},
		{"proc/environ", false},
	} {
		err := l.Check(filepath.Join(root, c.path))
		if (err == nil) != c.allowed {
			t.Errorf("%s: err %v, allowed want %v", c.path, err, c.allowed)
		}
	}
	// Without resolving, the lexical match lets the symlink through: only
	// the node-side check (ResolvingSymlinks) stops it.
	if err := MustAllowList(root).Check(filepath.Join(root, "file")); err != nil {
		t.Errorf("lexical check: %v", err)
	}
	// A root that is itself a symlink allows what lies under its target.
	link := filepath.Join(outside, "rootlink")
	if err := os.Symlink(root, link); err != nil {
		t.Fatal(err)
	}
	if err := MustAllowList(link).ResolvingSymlinks().Check(filepath.Join(root, "real", "x")); err != nil {
		t.Errorf("symlinked root: %v", err)
	}
}

// TestAccessFieldErrors: refusals name the field, the value, the allowed
// roots and the flag that adds roots.
func TestAccessFieldErrors(t *testing.T) {
	a := Access{Read: MustAllowList("/srv/prompts"), Who: "node"}
	spec := JobSpec{Prompts: PromptSource{URL: "file:///proc/self/environ"}, Output: OutputSpec{URL: "/srv/out"}}
	err := a.CheckSpec(spec)
	var v ValidationError
	if !errors.As(err, &v) || len(v) != 2 {
		t.Fatalf("CheckSpec = %v, want two field errors", err)
	}
	if v[0].Field != FieldPromptsURL || v[0].Value != "file:///proc/self/environ" ||
		!strings.Contains(v[0].Problem, "/srv/prompts") || !strings.Contains(v[0].Problem, "--allow-read") {
		t.Errorf("read error %+v", v[0])
	}
	if v[1].Field != FieldOutputURL || !strings.Contains(v[1].Problem, "node allows no locations") ||
		!strings.Contains(v[1].Problem, "--allow-write") {
		t.Errorf("write error %+v", v[1])
	}
	if !errors.Is(err, ErrNotAllowed) { // a node tells its own refusal by it
		t.Errorf("CheckSpec = %v, does not say ErrNotAllowed", err)
	}
	if err := a.CheckSpec(JobSpec{Prompts: PromptSource{URL: "/srv/prompts/../x"}, Output: OutputSpec{URL: "/srv/out"}}); !errors.As(err, &v) ||
		len(v) != 2 || !errors.Is(err, ErrNotAllowed) {
		t.Errorf("a bad prompt path with an output outside: %v, want two field errors saying ErrNotAllowed", err)
	}
	a.Write = MustAllowList("/srv/out")
	for _, bad := range []JobSpec{
		{Prompts: PromptSource{URL: "/srv/prompts/../x"}, Output: OutputSpec{URL: "/srv/out"}},
		{Prompts: PromptSource{Inline: []string{"x"}}, Output: OutputSpec{URL: "out/j"}},
	} {
		if err := a.CheckSpec(bad); !errors.As(err, &v) || errors.Is(err, ErrNotAllowed) {
			t.Errorf("%+v: %v, want a field error that is not ErrNotAllowed (a bad location, not one outside the roots)", bad, err)
		}
	}
	if err := a.CheckSpec(JobSpec{Prompts: PromptSource{Inline: []string{"x"}}, Output: OutputSpec{URL: "/srv/out/j"}}); err != nil {
		t.Errorf("inline prompts, allowed output: %v", err)
	}
	if err := a.CheckWrite("file://u:hunter2@localhost/srv/x/../y"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("password echoed or accepted: %v", err)
	}
}

// FuzzAllowList: parsing and matching never panic, and nothing allowed
// holds a ".." element or lies outside the roots after cleaning.
func FuzzAllowList(f *testing.F) {
	for _, s := range []string{"/srv/out/x", "/srv/out/../etc", "file:///srv/out/%2e%2e/x", "s3://farm/pre/x",
		"s3://farm/prefix", "relative", "file://h/x", "/srv/out", "s3://farm/pre/../x", "/srv/out//x/./y"} {
		f.Add(s)
	}
	l := MustAllowList("/srv/out", "s3://farm/pre")
	f.Fuzz(func(t *testing.T, raw string) {
		loc, perr := ParseLocation(raw)
		err := l.Check(raw)
		if err != nil {
			return
		}
		if perr != nil {
			t.Fatalf("Check allowed %q that does not parse: %v", raw, perr)
		}
		if strings.Contains(raw, "..") && hasDotDot(strings.ReplaceAll(rawPath(raw), "\\", "/")) {
			t.Fatalf("allowed %q with a .. element", raw)
		}
		switch {
		case loc.IsS3():
			if loc.Bucket != "farm" || (loc.Key != "pre" && !strings.HasPrefix(loc.Key, "pre/")) {
				t.Fatalf("allowed %q → %+v outside s3://farm/pre", raw, loc)
			}
		case loc.Path != "/srv/out" && !strings.HasPrefix(loc.Path, "/srv/out/"):
			t.Fatalf("allowed %q → %s outside /srv/out", raw, loc.Path)
		case filepath.Clean(loc.Path) != loc.Path || hasDotDot(loc.Path):
			t.Fatalf("allowed %q → unclean %s", raw, loc.Path)
		}
	})
}

// rawPath is the path part of raw without decoding (the fuzz oracle's
// view: any literal ".." element must have been refused); a file URL's
// query and fragment are not part of it.
func rawPath(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	if strings.EqualFold(scheme, "file") {
		rest, _, _ = strings.Cut(rest, "?")
		rest, _, _ = strings.Cut(rest, "#")
	}
	return rest
}

// TestAccessCheckClipsValue: a refused location longer than any allowed
// URL comes back cut (a job in the log from before the length bound, or
// a node's own check, must not echo megabytes).
func TestAccessCheckClipsValue(t *testing.T) {
	a := Access{Write: MustAllowList("s3://farm/out")}
	long := "s3://other/" + strings.Repeat("k", 1<<16)
	err := a.CheckWrite(long)
	var ve ValidationError
	if !errors.As(err, &ve) || len(ve) != 1 || len(ve[0].Value) > MaxLocationURLSize+len("…") {
		t.Fatalf("refusal of a %d-byte URL: %.200v", len(long), err)
	}
}
