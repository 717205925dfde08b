package node

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/internal/diskroom"
	"github.com/sanafarm/sanafarm/model/hub"
	"github.com/sanafarm/sanafarm/protocol"
)

// TestMirrorDownloadBound: a mirrored model larger than the node's
// --max-model-bytes, or a manifest with a size no file has, is refused
// before a byte is fetched, naming the model and sizes; within the bound it
// resolves.
func TestMirrorDownloadBound(t *testing.T) {
	mirror := t.TempDir()
	m := strings.Repeat("0", 64) // a sha256
	manifest := func(size string) string {
		return `{"files":[{"path":"model_index.json","size":` + size + `,"sha256":"` + m + `"}]}`
	}
	for name, body := range map[string]string{
		"org/big/main":      manifest("200000000"),
		"org/negative/main": manifest("-5"),
		"org/huge/main":     `{"files":[` + strings.TrimSuffix(strings.Repeat(`{"path":"a","size":1152921504606846976,"sha256":"`+m+`"},`, 17), ",") + `]}`,
	} {
		dir := filepath.Join(mirror, filepath.FromSlash(name))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, MirrorManifestName), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		model, want string
		own         bool // the node's own refusal (ownFault), not the mirror's bad manifest
	}{
		{"org/big", "model mirror org/big@main (1 files) needs 191 MiB, more than this node downloads for one model (1.0 MiB", true},
		{"org/negative", `bad manifest entry "model_index.json" (-5 bytes)`, false},
		{"org/huge", "the manifest's files add up to more than", false},
	}
	for _, tc := range cases {
		cache := t.TempDir()
		r := &ModelResolver{CacheRoot: cache, Mirror: "file://" + mirror, MaxDownloadBytes: 1 << 20,
			Hub: &hub.Config{CacheDir: t.TempDir(), Offline: true}}
		_, err := r.Resolve(t.Context(), protocol.JobSpec{Model: tc.model, Revision: "main"})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.model, err, tc.want)
		}
		if ownFault(err) != tc.own {
			t.Errorf("%s: ownFault = %v, want %v", tc.model, !tc.own, tc.own)
		}
		if leftovers, _ := filepath.Glob(filepath.Join(cache, "mirror", "org", "*", ".mirror-*")); len(leftovers) > 0 {
			t.Errorf("%s: left %v", tc.model, leftovers)
		}
	}
}

// FuzzMirrorManifest: any manifest a mirror holds is read without a
// panic, and an accepted one names only keys inside the model's folder
// (never the manifest itself), with sha256s and sizes whose sum cannot wrap.
func FuzzMirrorManifest(f *testing.F) {
	sum := strings.Repeat("ab", 32)
	f.Add(`{"files":[{"path":"model_index.json","size":10,"sha256":"` + sum + `"}]}`)
	f.Add(`{"files":[{"path":"../escape","size":1,"sha256":"` + sum + `"}]}`)
	f.Add(`{"files":[{"path":"a","size":-1,"sha256":"` + sum + `"}]}`)
	f.Add(`{"files":[{"path":"` + MirrorManifestName + `","size":1,"sha256":"` + sum + `"}]}`)
	f.Add(`{"files":null}`)
	f.Fuzz(func(t *testing.T, data string) {
		m, err := decodeMirrorManifest(strings.NewReader(data), "org/name", "main")
		if err != nil {
			return
		}
		var total int64
		for _, e := range m.Files {
			total += e.Size
			if e.Path == MirrorManifestName || slices.Contains(strings.Split(e.Path, "/"), "..") ||
				strings.HasPrefix(e.Path, "/") || len(e.SHA256) != 64 || e.Size < 0 || total < 0 || total > maxMirrorFile {
				t.Fatalf("accepted entry %+v (total %d)", e, total)
			}
		}
	})
}

// TestResolverSharesRoom: the resolver's downloads, from the mirror and
// from the Hub, share one diskroom.Ledger, so a model download counts what
// another one in progress still has to write.
func TestResolverSharesRoom(t *testing.T) {
	cache := t.TempDir()
	free, err := diskroom.Free(cache)
	if err != nil || free < 64<<20 {
		t.Skipf("free space %d, %v", free, err)
	}
	room := free - min(diskroom.Reserve, free/2)
	mirror := t.TempDir()
	dir := filepath.Join(mirror, "org", "big", "main")
	body := fmt.Sprintf(`{"files":[{"path":"model_index.json","size":%d,"sha256":"%s"}]}`, room*3/10, strings.Repeat("0", 64))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, MirrorManifestName), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &ModelResolver{CacheRoot: cache, Mirror: "file://" + mirror, MaxDownloadBytes: -1,
		Hub: &hub.Config{CacheDir: t.TempDir(), Offline: true}}
	if a, b := r.hubConfig(), r.hubConfig(); a.Room == nil || a.Room != b.Room || a.Room != &r.room {
		t.Fatalf("Hub downloads do not share the resolver's ledger: %p %p", a.Room, b.Room)
	}
	other, err := r.room.Take("a Hub download in progress", cache, room*8/10, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	_, err = r.Resolve(t.Context(), protocol.JobSpec{Model: "org/big", Revision: "main"})
	if err == nil || !strings.Contains(err.Error(), "model mirror org/big@main (1 files) needs") || !strings.Contains(err.Error(), "promised to downloads in progress") {
		t.Fatalf("err = %v, want the mirror download refused for the room promised", err)
	}
	if !ownFault(err) {
		t.Errorf("a full disk's refusal is not the node's own fault: %v", err)
	}
}
