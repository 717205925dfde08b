package node

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/sanafarm/sanafarm/internal/s3test"
	"github.com/sanafarm/sanafarm/model/hub"
	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

const mirrorBucket = "models-test"

func mirrorConfig(srv *s3test.Server) storage.S3Config {
	return storage.S3Config{Endpoint: srv.Endpoint(), Region: s3test.Region, AccessKey: s3test.AccessKey,
		SecretKey: s3test.SecretKey, Lookup: "path"}
}

// TestModelMirrorS3: sana-tiny pushed to a versitygw mirror is what a
// node with an empty cache resolves (byte for byte, marker file included);
// a re-push uploads nothing; a corrupted mirror object is refused; a
// repo id resolves from the mirror before the (offline) Hub.
func TestModelMirrorS3(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t, mirrorBucket)
	cfg := mirrorConfig(srv)
	open := func(ctx context.Context, url string) (storage.Store, error) { return storage.OpenS3(ctx, url, cfg) }
	const url = "s3://" + mirrorBucket + "/models/"

	src := &ModelResolver{CacheRoot: t.TempDir()}
	srcDir, err := src.ensureTiny()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(srcDir, "MIRRORED"), []byte("from the mirror\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	store, err := open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	tiny, _ := protocol.LookupPreset(protocol.TinyPreset)
	name, rev := MirrorName(tiny)
	m, err := PushModel(ctx, store, srcDir, name, rev, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) < 5 {
		t.Fatalf("pushed only %v", m.Files)
	}
	uploaded := 0
	if _, err := PushModel(ctx, store, srcDir, name, rev, func(_ MirrorFile, skipped bool) {
		if !skipped {
			uploaded++
		}
	}); err != nil || uploaded != 0 {
		t.Fatalf("re-push: %d files uploaded again, %v", uploaded, err)
	}

	dst := &ModelResolver{CacheRoot: t.TempDir(), Mirror: url, OpenMirror: open}
	got, err := dst.Resolve(ctx, protocol.JobSpec{Model: protocol.TinyPreset})
	if err != nil {
		t.Fatal(err)
	}
	sameTree(t, srcDir, got.Dir)

	// A repo id: the mirror before the Hub (offline here, with an empty cache).
	if _, err := PushModel(ctx, store, srcDir, "example-org/tiny-mirror", "main", nil); err != nil {
		t.Fatal(err)
	}
	repo := &ModelResolver{CacheRoot: t.TempDir(), Mirror: url, OpenMirror: open,
		Hub: &hub.Config{CacheDir: t.TempDir(), Offline: true}}
	got, err = repo.Resolve(ctx, protocol.JobSpec{Model: "example-org/tiny-mirror"})
	if err != nil {
		t.Fatal(err)
	}
	sameTree(t, srcDir, got.Dir)
	if _, err := repo.Resolve(ctx, protocol.JobSpec{Model: "example-org/absent"}); err == nil || !strings.Contains(err.Error(), "offline") {
		t.Fatalf("a model neither mirrored nor cached: %v", err)
	}

	// Corrupt one mirrored file (same size, other bytes, no sha256 metadata).
	key := "models/" + name + "/" + rev + "/MIRRORED"
	bad := []byte("from the MIRROR\n")
	if _, err := srv.Client().PutObject(ctx, mirrorBucket, key, bytes.NewReader(bad), int64(len(bad)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	broken := &ModelResolver{CacheRoot: t.TempDir(), Mirror: url, OpenMirror: open}
	if _, err := broken.Resolve(ctx, protocol.JobSpec{Model: protocol.TinyPreset}); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("corrupt mirror: %v", err)
	}
	if dir, _ := broken.TinyDir(); sana.TinyComplete(dir) {
		t.Fatal("a corrupt mirror left a model behind")
	}

	// A mirror without the model: sana-tiny is written locally instead.
	empty := &ModelResolver{CacheRoot: t.TempDir(), Mirror: "s3://" + mirrorBucket + "/elsewhere", OpenMirror: open}
	got, err = empty.Resolve(ctx, protocol.JobSpec{Model: protocol.TinyPreset})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(got.Dir, "MIRRORED")); err == nil {
		t.Fatal("sana-tiny came from a mirror that does not have it")
	}
}

// sameTree checks that every file of want is in got with the same bytes.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	files, err := listFolder(want)
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range files {
		a, _ := os.ReadFile(filepath.Join(want, rel))
		b, err := os.ReadFile(filepath.Join(got, rel))
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("%s differs in %s: %v", rel, got, err)
		}
	}
}

// TestAbortModelUploads: the uploads a killed push left open under a
// mirrored revision are aborted; one under another revision is left, and a
// local mirror (no multipart uploads) has none to abort.
func TestAbortModelUploads(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t, mirrorBucket)
	store, err := storage.OpenS3(ctx, "s3://"+mirrorBucket+"/models/", mirrorConfig(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	core := minio.Core{Client: srv.Client()}
	open := func(key string) {
		t.Helper()
		id, err := core.NewMultipartUpload(ctx, mirrorBucket, key, minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		part := bytes.Repeat([]byte("w"), 5<<20)
		if _, err := core.PutObjectPart(ctx, mirrorBucket, key, id, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	openUnder := func(prefix string) int {
		n := 0
		for u := range srv.Client().ListIncompleteUploads(ctx, mirrorBucket, prefix, true) {
			if u.Err != nil {
				t.Fatal(u.Err)
			}
			n++
		}
		return n
	}
	open("models/org/model/rev-a/transformer/diffusion_pytorch_model.safetensors")
	open("models/org/model/rev-b/vae/diffusion_pytorch_model.safetensors")
	if n, err := AbortModelUploads(ctx, store, "org/model", "rev-a"); err != nil || n != 1 {
		t.Fatalf("AbortModelUploads = %d, %v; want the 1 under rev-a", n, err)
	}
	if a, b := openUnder("models/org/model/rev-a/"), openUnder("models/org/model/rev-b/"); a != 0 || b != 1 {
		t.Errorf("uploads open after: rev-a %d (want 0), rev-b %d (want 1)", a, b)
	}
	local, err := storage.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	if n, err := AbortModelUploads(ctx, local, "org/model", "rev-a"); err != nil || n != 0 {
		t.Errorf("local mirror: %d, %v", n, err)
	}
}

// TestCorruptCachedModelRefetched: a model a node fetched from the mirror
// whose weights were damaged in its cache fails to load; the node finds
// the file that no longer matches the mirror's SHA-256, removes the
// download and reports the failure as its own (the shard's attempt is not
// counted), and the next shard fetches the model again and renders.
func TestCorruptCachedModelRefetched(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t, mirrorBucket)
	cfg := mirrorConfig(srv)
	open := func(ctx context.Context, url string) (storage.Store, error) { return storage.OpenS3(ctx, url, cfg) }
	const url = "s3://" + mirrorBucket + "/models/"
	const model = "example-org/tiny-mirror"
	srcDir, err := (&ModelResolver{CacheRoot: t.TempDir()}).ensureTiny()
	if err != nil {
		t.Fatal(err)
	}
	store, err := open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := PushModel(ctx, store, srcDir, model, "main", nil); err != nil {
		t.Fatal(err)
	}
	models := &ModelResolver{CacheRoot: t.TempDir(), Mirror: url, OpenMirror: open}
	out := t.TempDir()
	spec := tinySpec(out, "a red fox")
	spec.Model = model
	metrics := NewMetrics()
	run := func(shard int) error {
		e := NewPipelineExecutor(PipelineConfig{Models: models, Allow: tempAllow(), Metrics: metrics}) // loads afresh
		defer e.Close()
		_, err := e.Execute(ctx, assignment(spec, "j-cache", shard, 1), func(int) {})
		return err
	}
	if err := run(0); err != nil {
		t.Fatal(err)
	}
	cached, err := models.Resolve(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	weights := filepath.Join(cached.Dir, "transformer", "diffusion_pytorch_model.safetensors")
	b, err := os.ReadFile(weights)
	if err != nil {
		t.Fatal(err)
	}
	b[8] = '[' // the safetensors header's opening brace: the file no longer parses
	if err := os.WriteFile(weights, b, 0o644); err != nil {
		t.Fatal(err)
	}
	err = run(0)
	if !errors.Is(err, ErrCacheCorrupt) || !ownFault(err) || !strings.Contains(err.Error(), "transformer/diffusion_pytorch_model.safetensors") {
		t.Fatalf("loading the damaged model: %v; want the node's own fault naming the file", err)
	}
	if _, err := os.Stat(cached.Dir); !os.IsNotExist(err) {
		t.Errorf("the damaged download is still cached (%v)", err)
	}
	if n := gathered(t, metrics, "sanafarm_node_model_cache_corrupt_files_total", ""); n != 1 {
		t.Errorf("sanafarm_node_model_cache_corrupt_files_total = %v, want 1", n)
	}
	if err := run(0); err != nil {
		t.Fatalf("the next shard after the damaged download was removed: %v", err)
	}
}
