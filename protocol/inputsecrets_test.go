package protocol

import (
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/model/hub"
)

// secretURLs carry the credential "s3cr3t" where a user might paste one:
// userinfo (password or lone token), a presigned query, an hf:// URL.
var secretURLs = []string{
	"s3://AKIAX:s3cr3t@farm/in/a.png",
	"s3://s3cr3t@farm/in/a.png",
	"S3://AKIAX:s3cr3t@farm/in/a.png",
	"https://farm.s3.amazonaws.com/in/a.png?X-Amz-Credential=AKIAX&X-Amz-Signature=s3cr3t",
	"file://u:s3cr3t@localhost/srv/in/a.png",
	"file://s3cr3t@localhost/srv/in/a.png",
	"file:///srv/in/a.png?X-Amz-Signature=s3cr3t",
	"file:///srv/in/a.png#s3cr3t",
	"hf://u:s3cr3t@owner/repo/a.png",
}

// TestInputURLSecretsRefusedNotEchoed: a job input URL carrying a
// credential is refused (a file URL's userinfo or query would otherwise
// be accepted and recorded verbatim in provenance) and no validation,
// allow-list or row check error echoes the credential.
func TestInputURLSecretsRefusedNotEchoed(t *testing.T) {
	a := Access{Read: MustAllowList("/srv/in", "s3://farm/in"), Who: "node"}
	for _, u := range secretURLs {
		spec := validSpec()
		spec.Model = "sana-sprint-600m"
		spec.InitImage, spec.LoRAs = u, []LoRA{{URL: u}}
		errs := map[string]error{"Validate": spec.Validate(), "CheckModelFile": a.CheckModelFile("control_image", u),
			"CheckImageURL": CheckImageURL(u), "ParseLocation": parseErr(u)}
		for what, err := range errs {
			if err == nil && what != "ParseLocation" && (what != "CheckModelFile" || !HubURL(u)) { // hf:// is Validate's
				t.Errorf("%s(%s) accepted it", what, u)
			}
			if err != nil && strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("%s(%s) echoes the credential: %v", what, u, err)
			}
		}
		if r := RedactURL(u); strings.Contains(r, "s3cr3t") {
			t.Errorf("RedactURL(%s) = %s", u, r)
		}
	}
	for _, u := range []string{"file:///srv/in/a.png", "s3://farm/in/a.png", "hf://owner/repo@v1/a.png", "/srv/in/a.png"} {
		if err := CheckImageURL(u); err != nil {
			t.Errorf("CheckImageURL(%s): %v", u, err)
		}
		if r := RedactURL(u); r != `"`+u+`"` {
			t.Errorf("RedactURL(%s) = %s", u, r)
		}
	}
}

// parseErr is ParseLocation's error for u, nil for an hf:// URL (which
// ParseLocation does not take).
func parseErr(u string) error {
	if HubURL(u) {
		return nil
	}
	_, err := ParseLocation(u)
	return err
}

// TestHubURLAgreesWithHubClient: an hf:// input that submit accepts is
// one the nodes' Hub client parses (a repo id with ".." or "--" passed
// submit and then failed on every node); a fuzz test checks the rest.
func TestHubURLAgreesWithHubClient(t *testing.T) {
	for _, u := range []string{"hf://o/r../x.png", "hf://o../r/x.png", "hf://o/r--s/x.png", "hf://o/r..@v1/x.png"} {
		if err := CheckImageURL(u); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	if err := CheckImageURL("hf://o.x/r_1-2.v/x.png"); err != nil {
		t.Error(err)
	}
}

// FuzzCheckImageURL: every image URL submit accepts is one the node's
// readers take: an hf:// URL the Hub client parses, or a location.
func FuzzCheckImageURL(f *testing.F) {
	for _, s := range []string{"hf://o/r/a.png", "hf://o/r../a", "hf://o/r@v/a", "/srv/a.png", "s3://b1/k", "file:///a?b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckImageURL(s) != nil {
			return
		}
		if HubURL(s) {
			if _, err := hub.ParseURL(s); err != nil {
				t.Fatalf("accepted %q: %v", s, err)
			}
		} else if _, err := ParseLocation(s); err != nil {
			t.Fatalf("accepted %q: %v", s, err)
		}
	})
}

// TestRedactURLExact pins what stays readable: scheme, host, path and the
// user name of a user:password pair; the rest is masked.
func TestRedactURLExact(t *testing.T) {
	for in, want := range map[string]string{
		"s3://AKIA:secret@bucket/k":         "s3://AKIA:xxxxx@bucket/k",
		"s3://token@bucket/k":               "s3://xxxxx@bucket/k",
		"s3://a:b@c@bucket/k":               "s3://a:xxxxx@bucket/k",
		"https://h/p.png?X-Amz-Signature=1": "https://h/p.png?xxxxx",
		"file:///x.png#frag":                "file:///x.png?xxxxx",
		"file:///srv/in/a@b.png":            "file:///srv/in/a@b.png",
		"/srv/in/a.png":                     "/srv/in/a.png",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
