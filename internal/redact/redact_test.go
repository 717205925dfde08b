package redact

import (
	"errors"
	"testing"
)

func TestURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"nats://farm:s3cret@10.0.0.1:4222", "nats://farm:xxxxx@10.0.0.1:4222"},
		{"nats://tok3n@h:4222", "nats://xxxxx@h:4222"},
		{"tls://a:p1@h1:4222,tls://a:p2@h2:4222", "tls://a:xxxxx@h1:4222,tls://a:xxxxx@h2:4222"},
		{"connecting to nats at nats://u:p%40ss@h: dial", "connecting to nats at nats://u:xxxxx@h: dial"},
		// The userinfo ends at the authority's last '@' (as url.Parse and
		// the NATS client split it): an '@' or ':' in a password is masked.
		{"nats://farm:p@ss@10.0.0.1:4222", "nats://farm:xxxxx@10.0.0.1:4222"},
		{"nats://farm:p@s@s@h:4222/x", "nats://farm:xxxxx@h:4222/x"},
		{"nats://t@k@n@h:4222", "nats://xxxxx@h:4222"},
		{"nats://farm:pa:ss@h:4222", "nats://farm:xxxxx@h:4222"},
		{"nats://a:p@1@h1:4222,nats://b:p@2@h2:4222", "nats://a:xxxxx@h1:4222,nats://b:xxxxx@h2:4222"},
		{"dial nats://a:p@1@h1:4222 then tls://t@k@h2:4222: refused", "dial nats://a:xxxxx@h1:4222 then tls://xxxxx@h2:4222: refused"},
		{"nats://h1:4222,nats://u:p@h2:4222", "nats://h1:4222,nats://u:xxxxx@h2:4222"},
		{"s3://bucket/a@b/c@d.png", "s3://bucket/a@b/c@d.png"},
		{"s3://k:s@bucket/a@b.png", "s3://k:xxxxx@bucket/a@b.png"},
		{"https://h/p#frag@x", "https://h/p#frag@x"},
		{"nats://h:4222", "nats://h:4222"},
		{"https://e:2379/v3?x=a@b", "https://e:2379/v3?x=a@b"},
		{"user@example.com", "user@example.com"},
		{"", ""},
	} {
		if got := URL(c.in); got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestError(t *testing.T) {
	base := errors.New("dial nats://u:pw@h failed")
	err := Error(base)
	if got := err.Error(); got != "dial nats://u:xxxxx@h failed" || !errors.Is(err, base) {
		t.Errorf("Error = %q (is base: %v)", got, errors.Is(err, base))
	}
	if Error(nil) != nil {
		t.Error("Error(nil) != nil")
	}
}
