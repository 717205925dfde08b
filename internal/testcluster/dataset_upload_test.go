package testcluster_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/s3test"
	"github.com/sanafarm/sanafarm/internal/testcluster"
	"github.com/sanafarm/sanafarm/node"
	"github.com/sanafarm/sanafarm/storage"
)

// TestWebDatasetNodeKilledMidUpload: webdataset output on real S3. The
// first shard tar upload is held until its node has reported every image
// of the shard and the S3 server is stopped; the upload then fails and
// retries, and its node is killed (no lease revoke) — which must cancel
// the upload. After the server restarts, the shard is redone by the other
// node (attempt ≥ 2); its tar never appears partially under the final
// key, every shard verifies, and no object is duplicated.
func TestWebDatasetNodeKilledMidUpload(t *testing.T) {
	srv := s3test.Start(t, "farm")
	setS3Env(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, err := storage.Open(ctx, "s3://farm")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	datasetPrompts(t, root)
	g := newUploadGate()
	f := startDatasetFarm(t, testcluster.Options{NodeLeaseTTL: 2 * time.Second, LeaseTTL: 6 * time.Second}, g.opener)
	job, err := f.c.Client().SubmitJob(ctx, datasetSpec("s3://farm/prompts.jsonl", "s3://farm/out"))
	if err != nil {
		t.Fatal(err)
	}
	var held heldUpload
	select {
	case held = <-g.started:
	case <-time.After(60 * time.Second):
		t.Fatal("no shard upload started within 60 s")
	}
	shard, victim := shardOf(t, held.key), nodeIndex(t, held.node)
	waitFor(t, 10*time.Second, held.node+" reporting all images of shard "+held.key, func() bool {
		for _, tk := range f.c.Leader().Store().LeasesByNode()[held.node] {
			if tk.Shard == shard && tk.Progress == 2 {
				return true
			}
		}
		return false
	})
	srv.Stop()
	close(g.proceed)
	waitFor(t, 10*time.Second, "the held upload failing twice", func() bool { return g.failures(held.key) >= 2 })
	select {
	case err := <-g.ended:
		t.Fatalf("the held upload ended while S3 was down: %v", err)
	default:
	}
	killed := time.Now()
	f.c.KillNode(victim)
	select {
	case err := <-g.ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the killed node's upload ended with %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the killed node's upload is still running 3 s after the kill")
	}
	t.Logf("%s killed during its upload of %s (%d failed PUTs); the upload ended %v later",
		held.node, held.key, g.failures(held.key), time.Since(killed).Round(time.Millisecond))
	srv.Start()
	// The node stages its tar (held.key is under _attempts/): watch the
	// final key, which only a publish (a copy) ever writes.
	stopWatch := watchObject(ctx, root, "out/"+storage.TarKey("", shard))
	out := finishAndVerify(ctx, t, f, job.ID, "s3://farm/out")
	if seen, problem := stopWatch(); problem != "" || seen == 0 {
		t.Fatalf("watching out/%s: seen whole %d times; %s", storage.TarKey("", shard), seen, problem)
	}
	st, err := storage.ReadStats(ctx, out, "", shard)
	if err != nil || st.Node == held.node || st.Attempt < 2 {
		t.Fatalf("shard %d stats: node %s attempt %d (%v), want another node than %s and attempt ≥ 2",
			shard, st.Node, st.Attempt, err, held.node)
	}
	checkKeys(ctx, t, out, 4)
}

// heldUpload is the upload an uploadGate holds: its node and key.
type heldUpload struct{ node, key string }

// uploadGate holds the first shard tar upload (Put of a ".tar" key) of
// any node until proceed is closed, reports how it ended, and counts the
// PUT requests that failed per URL path (it is the stores' transport).
type uploadGate struct {
	base    http.RoundTripper
	started chan heldUpload
	proceed chan struct{}
	ended   chan error

	mu    sync.Mutex
	taken bool
	fails map[string]int
}

func newUploadGate() *uploadGate {
	return &uploadGate{base: http.DefaultTransport.(*http.Transport).Clone(), started: make(chan heldUpload, 1),
		proceed: make(chan struct{}), ended: make(chan error, 1), fails: map[string]int{}}
}

// opener is a node's output store opener: the real S3 store (settings
// from the environment) over the gate's transport, behind the gate.
func (g *uploadGate) opener(id string) node.StoreOpener {
	return func(ctx context.Context, url string) (node.ObjectStore, error) {
		cfg := storage.S3ConfigFromEnv()
		cfg.Transport = g
		s, err := storage.OpenS3(ctx, url, cfg)
		if err != nil {
			return nil, err
		}
		return gatedStore{ObjectStore: s, g: g, node: id}, nil
	}
}

func (g *uploadGate) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := g.base.RoundTrip(r)
	if r.Method == http.MethodPut && (err != nil || resp.StatusCode >= 500) {
		g.mu.Lock()
		g.fails[r.URL.Path]++
		g.mu.Unlock()
	}
	return resp, err
}

// failures counts the failed PUTs of a key of the output (s3://farm/out).
func (g *uploadGate) failures(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fails["/farm/out/"+key]
}

func (g *uploadGate) take() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	first := !g.taken
	g.taken = true
	return first
}

type gatedStore struct {
	node.ObjectStore
	g    *uploadGate
	node string
}

func (s gatedStore) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if !strings.HasSuffix(key, ".tar") || !s.g.take() {
		return s.ObjectStore.Put(ctx, key, r)
	}
	s.g.started <- heldUpload{node: s.node, key: key}
	select {
	case <-s.g.proceed:
	case <-ctx.Done():
		s.g.ended <- ctx.Err()
		return 0, ctx.Err()
	}
	n, err := s.ObjectStore.Put(ctx, key, r)
	s.g.ended <- err
	return n, err
}

// watchObject polls key until the returned stop is called; whenever the
// object exists it must be whole: its recorded sha256 and size match its
// bytes, which are a tar of 2 samples (6 members). stop returns how often
// it was seen and the first problem ("" if none).
func watchObject(ctx context.Context, s storage.Store, key string) (stop func() (int, string)) {
	quit, done := make(chan struct{}), make(chan struct{})
	var seen int
	var problem string
	go func() {
		defer close(done)
		for problem == "" {
			select {
			case <-quit:
				return
			case <-time.After(20 * time.Millisecond):
			}
			info, err := s.Stat(ctx, key)
			if err != nil {
				continue // absent (or a transient error)
			}
			body, err := readAll(ctx, s, key)
			if err != nil {
				continue // replaced or deleted meanwhile
			}
			seen++
			problem = wholeTar(info, body)
		}
	}()
	return func() (int, string) {
		close(quit)
		<-done
		return seen, problem
	}
}

func readAll(ctx context.Context, s storage.Store, key string) ([]byte, error) {
	rc, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// wholeTar says what is wrong with a shard tar ("" if nothing).
func wholeTar(info storage.ObjectInfo, body []byte) string {
	sum := sha256.Sum256(body)
	if int64(len(body)) != info.Size || hex.EncodeToString(sum[:]) != info.SHA256 {
		return fmt.Sprintf("%d bytes with sha256 %x, recorded %d and %.12s", len(body), sum[:6], info.Size, info.SHA256)
	}
	tr := tar.NewReader(bytes.NewReader(body))
	n := 0
	for ; ; n++ {
		_, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Sprintf("member %d: %v", n, err)
		}
	}
	if n != 6 {
		return fmt.Sprintf("%d tar members, want 6", n)
	}
	return ""
}

// checkKeys checks that the output holds exactly one tar, one Parquet and
// one stats object per shard and the two manifests: nothing duplicated or
// left over.
func checkKeys(ctx context.Context, t *testing.T, out storage.Store, shards int) {
	t.Helper()
	want := map[string]bool{storage.ManifestJSONL: true, storage.ManifestParquet: true}
	for s := range shards {
		want[storage.TarKey("", s)], want[storage.StatsKey("", s)] = true, true
		want[storage.ShardParquetKey("", s)] = true
	}
	var got []string
	for o, err := range out.List(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, o.Key)
		if !want[o.Key] {
			t.Errorf("unexpected object %s", o.Key)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("output holds %v, want %d objects", got, len(want))
	}
}

// shardOf is the shard of a tar key (final or staged).
func shardOf(t *testing.T, key string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSuffix(path.Base(key), ".tar"))
	if err != nil {
		t.Fatalf("shard of %s: %v", key, err)
	}
	return n
}

func nodeIndex(t *testing.T, id string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimPrefix(id, "n"))
	if err != nil {
		t.Fatalf("index of node %s: %v", id, err)
	}
	return n
}
