package chaos

import (
	"strings"
	"testing"
)

func TestFindSecrets(t *testing.T) {
	text := "line one\nconnect tls://n0:" + natsPassword("n0") + "@127.0.0.1:4222 failed\n" +
		"Authorization: Bearer " + apiToken + "\nclean line\n"
	got := findSecrets(text)
	if len(got) != 2 || !strings.HasPrefix(got[0], "the API token: Authorization: Bearer <the API token>") ||
		got[1] != "a NATS password: connect tls://n0:<a NATS password>@127.0.0.1:4222 failed" {
		t.Fatalf("findSecrets = %q", got)
	}
	for _, f := range got {
		for _, s := range farmSecrets {
			if strings.Contains(f, s.value) {
				t.Errorf("a finding quotes the secret: %q", f)
			}
		}
	}
	if got := findSecrets("nothing here\n" + metricsToken[:10]); got != nil {
		t.Errorf("findSecrets of clean text = %q", got)
	}
}
