package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestSubmitRefusesLocationsOutsideAllowList: through the API, a job whose
// prompt file or output lies outside the coordinator's allow-lists is a
// 400 naming the field, and nothing is committed; one inside is accepted.
func TestSubmitRefusesLocationsOutsideAllowList(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	allow := &protocol.Access{Read: protocol.MustAllowList(root, "s3://farm/prompts"),
		Write: protocol.MustAllowList(root, "s3://farm/out")}
	c := startCluster(t, 1, func(cfg *Config) { cfg.Allow = allow })
	srv := c.members[c.leader(10*time.Second)].srv
	cl := client.New(srv.URL(), clusterToken)
	ctx := context.Background()
	spec := func(prompts, out string) protocol.JobSpec {
		return protocol.JobSpec{Model: protocol.TinyPreset, Prompts: protocol.PromptSource{URL: prompts, Format: "txt", Rows: 1},
			Output: protocol.OutputSpec{URL: out}}
	}
	in := filepath.Join(root, "p.txt")
	for _, tc := range []struct {
		name, prompts, out, field, want string
	}{
		{"proc environ", "file:///proc/self/environ", root + "/out", protocol.FieldPromptsURL, root},
		{"traversal", in, "file://" + root + "/../etc", protocol.FieldOutputURL, ".. element"},
		{"relative output", in, "out", protocol.FieldOutputURL, "relative path"},
		{"symlink out of root", in, filepath.Join(root, "escape", "job"), protocol.FieldOutputURL, "--allow-write"},
		{"other bucket", "s3://other/prompts/p.txt", "s3://farm/out/j", protocol.FieldPromptsURL, "s3://farm/prompts"},
		{"prefix boundary", "s3://farm/prompts/p.txt", "s3://farm/outside/j", protocol.FieldOutputURL, "s3://farm/out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cl.SubmitJobID(ctx, "j-refused", spec(tc.prompts, tc.out))
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Code != protocol.CodeBadRequest || len(pe.Fields) != 1 ||
				pe.Fields[0].Field != tc.field || !strings.Contains(pe.Fields[0].Problem, tc.want) {
				t.Fatalf("submit: %v (%+v), want a bad_request on %s mentioning %q", err, pe, tc.field, tc.want)
			}
		})
	}
	if _, ok := srv.store.JobByID("j-refused"); ok {
		t.Fatal("a refused job was committed")
	}
	checkHTTPFieldError(t, srv.URL(), protocol.FieldPromptsURL)
	if _, err := cl.SubmitJobID(ctx, "j-ok", spec(in, "file://"+root+"/out")); err != nil {
		t.Fatalf("allowed job: %v", err)
	}
	if _, err := cl.SubmitJobID(ctx, "j-ok-s3", spec("s3://farm/prompts/p.txt", "s3://farm/out/j")); err != nil {
		t.Fatalf("allowed s3 job: %v", err)
	}
}

// checkHTTPFieldError posts the issue's /proc/self/environ job and checks
// the wire answer: status 400 and a field error in the body.
func checkHTTPFieldError(t *testing.T, base, field string) {
	t.Helper()
	body := `{"model":"sana-tiny","prompts":{"url":"file:///proc/self/environ","format":"txt","rows":1},"output":{"url":"/tmp/o"}}`
	req, err := http.NewRequest(http.MethodPost, base+api.PathJobs, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+clusterToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pe protocol.Error
	if err := json.NewDecoder(resp.Body).Decode(&pe); err != nil || resp.StatusCode != http.StatusBadRequest ||
		len(pe.Fields) == 0 || pe.Fields[0].Field != field {
		t.Errorf("POST %s: %d %+v (%v), want 400 with a %s field error", api.PathJobs, resp.StatusCode, pe, err, field)
	}
}
