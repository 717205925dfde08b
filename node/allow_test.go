package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// testAllow lets jobs read and write under dirs (tests give their
// t.TempDir() roots).
func testAllow(dirs ...string) protocol.Access {
	l := protocol.MustAllowList(dirs...)
	return protocol.Access{Read: l, Write: l}
}

// tempAllow lets jobs use the OS temp directory, where t.TempDir() lives.
func tempAllow() protocol.Access { return testAllow(os.TempDir()) }

// recordingOpeners count the opens that get past the allow-list.
type recordingOpeners struct{ prompts, stores atomic.Int32 }

func (r *recordingOpeners) config(cfg PipelineConfig) PipelineConfig {
	cfg.OpenPrompts = func(_ context.Context, src protocol.PromptSource) (PromptSource, error) {
		if src.URL != "" {
			r.prompts.Add(1)
			return nil, errors.New("prompt file opened")
		}
		return storage.NewPromptReader(src)
	}
	cfg.OpenStore = func(context.Context, string) (ObjectStore, error) {
		r.stores.Add(1)
		return nil, errors.New("store opened")
	}
	return cfg
}

// TestExecutorRefusesLocationsOutsideAllowList: a task naming
// file:///proc/self/environ (or an output outside the write roots, or any
// file on a node with no roots) fails with the reason before its prompts
// or its output are opened, so nothing is read and nothing written.
func TestExecutorRefusesLocationsOutsideAllowList(t *testing.T) {
	root := t.TempDir()
	inline := protocol.PromptSource{Inline: []string{"a red fox"}}
	for _, c := range []struct {
		name    string
		allow   protocol.Access
		prompts protocol.PromptSource
		out     string
		field   string
		want    string
		own     bool // outside the node's roots: the node's own fault (ownFault), not a bad field
	}{
		{"proc environ prompts", testAllow(root), protocol.PromptSource{URL: "file:///proc/self/environ", Rows: 1},
			filepath.Join(root, "out"), protocol.FieldPromptsURL, "outside the node's allowed locations", true},
		{"cmdline prompts", testAllow(root), protocol.PromptSource{URL: "/proc/self/cmdline", Rows: 1},
			filepath.Join(root, "out"), protocol.FieldPromptsURL, root, true},
		{"traversal prompts", testAllow(root), protocol.PromptSource{URL: "file://" + root + "/../../etc/passwd", Rows: 1},
			filepath.Join(root, "out"), protocol.FieldPromptsURL, ".. element", false},
		{"relative output", testAllow(root), inline, "out/job", protocol.FieldOutputURL, "relative path", false},
		{"output outside", testAllow(root), inline, "/etc/sanafarm-out", protocol.FieldOutputURL, "--allow-write", true},
		{"no roots configured", protocol.Access{}, protocol.PromptSource{URL: filepath.Join(root, "p.txt"), Rows: 1},
			filepath.Join(root, "out"), protocol.FieldPromptsURL, "node allows no locations here (its operator adds roots with --allow-read)", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var rec recordingOpeners
			e := NewPipelineExecutor(rec.config(PipelineConfig{Models: &ModelResolver{CacheRoot: t.TempDir()}, Allow: c.allow}))
			defer e.Close()
			spec := tinySpec(c.out)
			spec.Prompts = c.prompts
			_, err := e.Execute(context.Background(), assignment(spec, "j-allow", 0, 1), func(int) {})
			var v protocol.ValidationError
			if !errors.As(err, &v) || v[0].Field != c.field || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Execute = %v, want a %s error mentioning %q", err, c.field, c.want)
			}
			if ownFault(err) != c.own {
				t.Errorf("ownFault(%v) = %v, want %v", err, !c.own, c.own)
			}
			if c.field == protocol.FieldPromptsURL && rec.prompts.Load() != 0 {
				t.Error("the prompt source was opened")
			}
			if rec.stores.Load() != 0 {
				t.Error("the output store was opened")
			}
		})
	}
	if ents, err := os.ReadDir(root); err != nil || len(ents) != 0 {
		t.Errorf("allowed root holds %v (%v), want nothing written", ents, err)
	}
}

// TestExecutorRefusesSymlinkOutOfRoot: the default openers behind the
// allow-list refuse a prompt file that is a symlink inside an allowed root
// pointing to a secret outside it, and an output directory that is a
// symlink to elsewhere; the same files under the root are read.
func TestExecutorRefusesSymlinkOutOfRoot(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "secrets.txt")
	mustWrite(t, secret, "AWS_SECRET_ACCESS_KEY=leak\n")
	mustWrite(t, filepath.Join(root, "prompts.txt"), "a red fox\n")
	for name, target := range map[string]string{"link.txt": secret, "outlink": outside} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	e := NewPipelineExecutor(PipelineConfig{Allow: testAllow(root)})
	defer e.Close()
	ctx := context.Background()
	if _, err := e.cfg.OpenPrompts(ctx, protocol.PromptSource{URL: filepath.Join(root, "link.txt"), Rows: 1}); err == nil ||
		!strings.Contains(err.Error(), protocol.FieldPromptsURL) {
		t.Errorf("symlinked prompt file: err %v, want refused", err)
	}
	if _, err := e.cfg.OpenStore(ctx, "file://"+filepath.Join(root, "outlink", "job")); err == nil ||
		!strings.Contains(err.Error(), protocol.FieldOutputURL) {
		t.Errorf("symlinked output: err %v, want refused", err)
	}
	src, err := e.cfg.OpenPrompts(ctx, protocol.PromptSource{URL: filepath.Join(root, "prompts.txt"), Rows: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rows, err := src.ReadRows(ctx, 0, 1); err != nil || len(rows) != 1 || rows[0].Prompt != "a red fox" {
		t.Errorf("allowed prompts: %v %v", rows, err)
	}
	st, err := e.cfg.OpenStore(ctx, filepath.Join(root, "out"))
	if err != nil {
		t.Fatalf("allowed output: %v", err)
	}
	st.Close()
}

func mustWrite(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestExecutorRefusesBeforeResolvingTheModel: a job outside the allow-lists
// is refused before its model is resolved (which could download gigabytes
// for a job that is refused anyway): the error is the output's, not the
// unknown model's.
func TestExecutorRefusesBeforeResolvingTheModel(t *testing.T) {
	root := t.TempDir()
	e := NewPipelineExecutor(PipelineConfig{Models: &ModelResolver{CacheRoot: t.TempDir()}, Allow: testAllow(root)})
	defer e.Close()
	spec := tinySpec("/etc/sanafarm-out")
	spec.Model = "no-such-org/no-such-model"
	_, err := e.Execute(context.Background(), assignment(spec, "j-early", 0, 1), func(int) {})
	var v protocol.ValidationError
	if !errors.As(err, &v) || v[0].Field != protocol.FieldOutputURL {
		t.Fatalf("Execute = %v, want the output.url refusal before the model is resolved", err)
	}
}
