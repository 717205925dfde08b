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
