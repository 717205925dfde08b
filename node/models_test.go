package node

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sanafarm/sanafarm/model/hub"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// TestResolveMirrorRevisionEscape: with a mirror configured, a job's
// revision is part of the mirror folder's path; one with "../" elements
// is refused before the join, so it cannot pick a folder outside the
// mirror (here one holding a mirror manifest, which used to be returned
// as the model's folder).
func TestResolveMirrorRevisionEscape(t *testing.T) {
	root := filepath.Join(t.TempDir(), "cache")
	victim := filepath.Join(root, "victim")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, MirrorManifestName), []byte(`{"files":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &ModelResolver{CacheRoot: root, Mirror: "file://" + t.TempDir(), Hub: &hub.Config{CacheDir: t.TempDir(), Offline: true}}
	for _, rev := range []string{"../../../victim", "main/../../../../victim", "/abs", `..\x`} {
		spec := protocol.JobSpec{Model: "org/name", Revision: rev}
		m, err := r.Resolve(t.Context(), spec)
		if !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("revision %q: got folder %q, error %v; want an invalid key error", rev, m.Dir, err)
		}
	}
}
