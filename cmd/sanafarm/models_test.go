package main

import (
	"context"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/internal/s3test"
	"github.com/sanafarm/sanafarm/node"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestModelsPush: `sanafarm models push sana-tiny s3://...` fills a mirror
// (S3 settings from the environment) that a node's resolver then uses.
func TestModelsPush(t *testing.T) {
	srv := s3test.Start(t, "mirror")
	t.Setenv("SANAFARM_CACHE", t.TempDir())
	t.Setenv("AWS_ACCESS_KEY_ID", s3test.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3test.SecretKey)
	t.Setenv("AWS_REGION", s3test.Region)
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.Endpoint())
	t.Setenv("SANAFARM_S3_LOOKUP", "path")
	code, out, errOut := sanafarm("models", "push", "sana-tiny", "s3://mirror/models/")
	if code != 0 || !strings.Contains(out, "s3://mirror/models/sana-tiny/v1:") {
		t.Fatalf("push: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = sanafarm("models", "push", "sana-tiny", "s3://mirror/models")
	if code != 0 || !strings.Contains(out, " 0 bytes uploaded") {
		t.Fatalf("second push re-uploaded: exit %d %s", code, out)
	}
	r := &node.ModelResolver{CacheRoot: t.TempDir(), Mirror: "s3://mirror/models"}
	m, err := r.Resolve(context.Background(), protocol.JobSpec{Model: protocol.TinyPreset})
	if err != nil || !strings.HasPrefix(m.Dir, r.CacheRoot) {
		t.Fatalf("resolve from the mirror: %+v %v", m, err)
	}
	if code, _, errOut := sanafarm("models", "push", "sana-tiny", "s3://no-such-bucket/m"); code == 0 || !strings.Contains(errOut, "no-such-bucket") {
		t.Fatalf("push to a missing bucket: exit %d %s", code, errOut)
	}
}
