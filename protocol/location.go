package protocol

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Location is a parsed prompt or output URL: a local path (file:// URLs
// and plain paths) or an S3 bucket and key prefix. It is parsed the way
// storage.Open and storage.OpenObject read URLs, so a check on a
// Location is a check on what the node will open.
type Location struct {
	// Path is the absolute, clean local path ("" for S3).
	Path string
	// Bucket and Key name an S3 location (Key "" = the whole bucket; no
	// leading or trailing slash).
	Bucket, Key string
}

// IsS3 reports whether l names an S3 location.
func (l Location) IsS3() bool { return l.Bucket != "" }

func (l Location) String() string {
	switch {
	case !l.IsS3():
		return l.Path
	case l.Key == "":
		return "s3://" + l.Bucket
	}
	return "s3://" + l.Bucket + "/" + l.Key
}

var reBucket = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// ParseLocation parses a file:// URL, an absolute path or an s3:// URL.
// Relative paths, ".." elements, file URLs naming a host other than
// localhost and unknown schemes are errors: a job must name its data
// where the operator can see it, and a ".." could climb out of an allowed
// root before the path is cleaned.
func ParseLocation(raw string) (Location, error) {
	if raw == "" {
		return Location{}, errors.New("empty URL")
	}
	if strings.ContainsRune(raw, 0) {
		return Location{}, errors.New("contains a NUL byte")
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return localLocation(raw)
	}
	switch strings.ToLower(scheme) {
	case "file":
		u, err := url.Parse(raw)
		if err != nil {
			return Location{}, fmt.Errorf("not a valid file URL: %w", errors.Unwrap(err))
		}
		if u.Host != "" && u.Host != "localhost" {
			return Location{}, fmt.Errorf("file URLs name a local path (file:///dir), not host %q", u.Hostname())
		}
		// Userinfo and a query mean nothing to a local path, and the URL
		// is recorded verbatim in provenance and errors: a password or a
		// pasted presigned query would leak there.
		if u.User != nil {
			return Location{}, errors.New("file URLs take no user or password")
		}
		if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			return Location{}, errors.New("file URLs take no query or fragment (write ? and # in a name as %3F and %23)")
		}
		if u.Path == "" {
			return Location{}, errors.New("file URL has no path")
		}
		return localLocation(filepath.FromSlash(u.Path))
	case "s3":
		return s3Location(rest)
	}
	return Location{}, fmt.Errorf("unknown scheme %q (want file://, s3:// or an absolute path)", scheme)
}

func localLocation(p string) (Location, error) {
	if !filepath.IsAbs(p) {
		return Location{}, errors.New("a relative path (want an absolute path or a file:/// URL)")
	}
	// A backslash counts as a separator too: "..\" climbs on Windows
	// and is no name anyone means on Linux.
	if hasDotDot(strings.ReplaceAll(filepath.ToSlash(p), `\`, "/")) {
		return Location{}, errors.New("contains a .. element")
	}
	return Location{Path: filepath.Clean(p)}, nil
}

func hasDotDot(slashPath string) bool {
	for e := range strings.SplitSeq(slashPath, "/") {
		if e == ".." {
			return true
		}
	}
	return false
}

func s3Location(rest string) (Location, error) {
	if strings.ContainsAny(rest, "?#\\") {
		return Location{}, errors.New("s3 URLs take no query, fragment or backslash")
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if strings.Contains(bucket, "@") { // not echoed: it would be a credential
		return Location{}, errors.New("s3 URLs take no user or password (S3 credentials come from the environment)")
	}
	if !reBucket.MatchString(bucket) || strings.Contains(bucket, "..") {
		return Location{}, fmt.Errorf("bucket %q is not a valid S3 bucket name", bucket)
	}
	key = strings.TrimSuffix(key, "/")
	if key != "" && !fs.ValidPath(key) {
		return Location{}, fmt.Errorf("key %q: want a slash path without empty, . or .. elements", key)
	}
	return Location{Bucket: bucket, Key: key}, nil
}

// under reports whether l lies in root: the same bucket and a key on or
// below root's prefix on a segment boundary, or a path on or below
// root's directory.
func (l Location) under(root Location) bool {
	if l.IsS3() != root.IsS3() {
		return false
	}
	if l.IsS3() {
		return l.Bucket == root.Bucket && pathUnder(l.Key, root.Key, "/")
	}
	return pathUnder(l.Path, root.Path, string(filepath.Separator))
}

func pathUnder(p, root, sep string) bool {
	switch {
	case root == "":
		return true // an S3 bucket's root
	case p == root:
		return true
	case strings.HasSuffix(root, sep):
		return strings.HasPrefix(p, root) // the filesystem root
	}
	return strings.HasPrefix(p, root+sep)
}

// resolve replaces l's path by its real location: the symlinks of its
// longest existing ancestor are evaluated and the missing rest appended
// (it cannot hold ".." elements). A dangling symlink is an error, since
// creating the output through it would land wherever it points.
func (l Location) resolve() (Location, error) {
	if l.IsS3() {
		return l, nil
	}
	tail := ""
	for cur := l.Path; ; {
		if _, err := os.Lstat(cur); err == nil {
			real, err := filepath.EvalSymlinks(cur)
			if err != nil {
				return l, fmt.Errorf("resolving %s: %w", cur, err)
			}
			return Location{Path: filepath.Join(real, tail)}, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return l, fmt.Errorf("resolving %s: %w", cur, err)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return l, nil
		}
		tail = filepath.Join(filepath.Base(cur), tail)
		cur = parent
	}
}

// AllowList is a set of roots (local directories, S3 buckets or bucket
// prefixes) that job locations must lie under. The zero value allows
// nothing.
type AllowList struct {
	roots []Location
	// resolve evaluates symlinks of roots and locations before matching.
	resolve bool
}

// ParseAllowList parses roots such as /srv/prompts, file:///data/out,
// s3://bucket or s3://bucket/prefix; each value may hold several,
// comma-separated.
func ParseAllowList(values ...string) (AllowList, error) {
	var l AllowList
	for _, v := range values {
		for r := range strings.SplitSeq(v, ",") {
			if r = strings.TrimSpace(r); r == "" {
				continue
			}
			loc, err := ParseLocation(r)
			if err != nil {
				return AllowList{}, fmt.Errorf("allowed location %q: %w", r, err)
			}
			l.roots = append(l.roots, loc)
		}
	}
	return l, nil
}

// MustAllowList is ParseAllowList for literals (tests, defaults); it
// panics on an invalid root.
func MustAllowList(values ...string) AllowList {
	l, err := ParseAllowList(values...)
	if err != nil {
		panic(err)
	}
	return l
}

// ResolvingSymlinks returns l matching real paths: the symlinks of both
// the location and each root (of their longest existing ancestors) are
// evaluated first, so a symlink inside a root that points to /proc or
// /etc is refused. Use it where the paths are opened (the node, and the
// coordinator that writes manifests).
func (l AllowList) ResolvingSymlinks() AllowList {
	l.resolve = true
	return l
}

// Roots returns the roots as strings (for messages and logs).
func (l AllowList) Roots() []string {
	out := make([]string, len(l.roots))
	for i, r := range l.roots {
		out[i] = r.String()
	}
	return out
}

// Empty reports whether l allows nothing.
func (l AllowList) Empty() bool { return len(l.roots) == 0 }

// ErrNotAllowed is wrapped by every refusal of a location that parses
// but lies outside the allowed roots.
var ErrNotAllowed = errors.New("location not allowed")

// Check returns nil if raw parses and lies under one of l's roots, else
// an error saying why (wrapping ErrNotAllowed when it is outside).
func (l AllowList) Check(raw string) error {
	loc, err := ParseLocation(raw)
	if err != nil {
		return err
	}
	if l.Empty() {
		return fmt.Errorf("%w: no locations are allowed", ErrNotAllowed)
	}
	if l.resolve {
		if loc, err = loc.resolve(); err != nil {
			return err
		}
	}
	for _, root := range l.roots {
		if l.resolve {
			if root, err = root.resolve(); err != nil {
				continue // an unreadable root allows nothing
			}
		}
		if loc.under(root) {
			return nil
		}
	}
	return fmt.Errorf("%w: outside the allowed locations (%s)", ErrNotAllowed, strings.Join(l.Roots(), ", "))
}

// Access is what jobs may touch on a node or a coordinator: prompt files
// under Read, outputs under Write.
type Access struct {
	Read, Write AllowList
	// Who names the component in messages ("node", "coordinator"); its
	// roots are set with --allow-read and --allow-write.
	Who string
}

// Field names checked by Access.
const (
	FieldPromptsURL = "prompts.url"
	FieldOutputURL  = "output.url"
)

// CheckRead checks a prompt file URL; it returns a ValidationError naming
// prompts.url, the value and the allowed roots.
func (a Access) CheckRead(raw string) error {
	return a.check(FieldPromptsURL, raw, a.Read, "--allow-read")
}

// CheckWrite checks an output URL (ValidationError naming output.url).
func (a Access) CheckWrite(raw string) error {
	return a.check(FieldOutputURL, raw, a.Write, "--allow-write")
}

// CheckSpec checks a job's prompt file (if any) and output, returning
// every problem as one ValidationError (wrapping ErrNotAllowed too when
// any location lies outside the allow-lists).
func (a Access) CheckSpec(s JobSpec) error {
	var v ValidationError
	outside := false
	add := func(err error) {
		var fe ValidationError
		if errors.As(err, &fe) {
			v = append(v, fe...)
			outside = outside || errors.Is(err, ErrNotAllowed)
		}
	}
	if s.Prompts.URL != "" {
		add(a.CheckRead(s.Prompts.URL))
	}
	add(a.CheckWrite(s.Output.URL))
	fields, urls := s.ModelFiles()
	for i, u := range urls {
		add(a.check(fields[i], u, a.Read, "--allow-read"))
	}
	switch {
	case len(v) == 0:
		return nil
	case outside:
		return notAllowed{v}
	}
	return v
}

// notAllowed is a ValidationError naming locations outside the
// allow-lists that also says ErrNotAllowed: a node tells its own refusal
// (its operator's roots) from a job's bad field by it (node.ownFault).
type notAllowed struct{ ValidationError }

func (e notAllowed) Unwrap() []error { return []error{e.ValidationError, ErrNotAllowed} }

func (a Access) check(field, raw string, l AllowList, flag string) error {
	err := l.Check(raw)
	if err == nil {
		return nil
	}
	who := firstNonEmpty(a.Who, "this server")
	outside := errors.Is(err, ErrNotAllowed)
	problem := "refused: " + err.Error()
	switch {
	case !outside:
	case l.Empty():
		problem = fmt.Sprintf("refused: the %s allows no locations here (its operator adds roots with %s)", who, flag)
	default:
		problem = fmt.Sprintf("refused: outside the %s's allowed locations (%s; %s adds roots)",
			who, strings.Join(l.Roots(), ", "), flag)
	}
	v := ValidationError{{Field: field, Value: Clip(redactURL(raw), MaxLocationURLSize), Problem: problem}}
	if outside {
		return notAllowed{v}
	}
	return v
}

// redactURL hides the credentials a URL echoed in an error may carry: a
// password or token in its userinfo, and its query and fragment (a
// presigned URL's signature, an OAuth fragment).
func redactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	// The userinfo ends at the last '@' before the path, query or
	// fragment (a stray '@' in a password masks more, never less).
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndexByte(rest[:end], '@'); at >= 0 {
		info := redactMask // a lone user part is a token
		if i := strings.IndexByte(rest[:at], ':'); i >= 0 {
			info = rest[:i] + ":" + redactMask
		}
		rest = info + rest[at:]
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i] + "?" + redactMask
	}
	return scheme + "://" + rest
}

// redactMask replaces a credential (the mask of internal/redact, which
// protocol may not import: docs/architecture.md §3).
const redactMask = "xxxxx"

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
