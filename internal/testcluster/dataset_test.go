package testcluster_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/internal/s3test"
	"github.com/sanafarm/sanafarm/internal/testcluster"
	"github.com/sanafarm/sanafarm/node"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// datasetFarm is a one-voter farm with two real sana-tiny nodes whose
// executors count generated and reused shards.
type datasetFarm struct {
	c     *testcluster.Cluster
	execs []*node.PipelineExecutor
}

// startDatasetFarm starts the farm; open, if set, gives each node's
// executor its output store opener.
func startDatasetFarm(t *testing.T, opts testcluster.Options, open func(node string) node.StoreOpener) *datasetFarm {
	f := &datasetFarm{}
	models := &node.ModelResolver{CacheRoot: t.TempDir()}
	opts.Coordinators, opts.Nodes = 1, 2
	opts.Executor = func(_ int, id string) node.Executor {
		allow := protocol.MustAllowList(os.TempDir(), "s3://farm") // the tests' outputs and prompts
		cfg := node.PipelineConfig{Models: models, Node: id, Allow: protocol.Access{Read: allow, Write: allow}}
		if open != nil {
			cfg.OpenStore = open(id)
		}
		e := node.NewPipelineExecutor(cfg)
		f.execs = append(f.execs, e)
		return e
	}
	t.Cleanup(func() {
		for _, e := range f.execs {
			e.Close()
		}
	})
	f.c = testcluster.Start(t, opts)
	return f
}

func (f *datasetFarm) counts() (generated, reused int64) {
	for _, e := range f.execs {
		g, r := e.Counts()
		generated, reused = generated+g, reused+r
	}
	return
}

// datasetPrompts writes 8 JSONL prompts (row 3 carries its own seed,
// negative prompt, id and an extra field) to store key "prompts.jsonl".
func datasetPrompts(t *testing.T, s storage.Store) {
	var b strings.Builder
	for i := range 8 {
		if i == 3 {
			b.WriteString(`{"prompt": "a blue boat", "negative_prompt": "fog", "seed": 99, "id": "row-3", "style": "ink"}` + "\n")
			continue
		}
		fmt.Fprintf(&b, "{\"prompt\": \"a small red house number %d\", \"id\": %d}\n", i, i)
	}
	if _, err := s.Put(context.Background(), "prompts.jsonl", strings.NewReader(b.String())); err != nil {
		t.Fatal(err)
	}
}

func datasetSpec(promptsURL, outURL string) protocol.JobSpec {
	return protocol.JobSpec{Model: protocol.TinyPreset, Width: 128, Height: 128, Steps: 2, Seed: 42,
		Prompts: protocol.PromptSource{URL: promptsURL, Rows: 8}, ShardSize: 2, MaxAttempts: 6,
		Output: protocol.OutputSpec{URL: outURL, Format: storage.FormatWebDataset}}
}

// TestWebDatasetOnS3: prompts read from and webdataset shards written to a
// real S3 server (versitygw) that is stopped for 4 s mid-job; the job
// completes, every shard verifies, every tar member, stats file and
// manifest row is checked; then a shard's stats and another's tar are
// deleted and the job resubmitted: only those two shards are generated.
func TestWebDatasetOnS3(t *testing.T) {
	srv := s3test.Start(t, "farm")
	setS3Env(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root, err := storage.Open(ctx, "s3://farm")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	datasetPrompts(t, root)
	f := startDatasetFarm(t, testcluster.Options{}, nil)
	spec := datasetSpec("s3://farm/prompts.jsonl", "s3://farm/out")
	job, err := f.c.Client().SubmitJob(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "1 shard done", func() bool {
		j, _ := f.c.Leader().Store().JobByID(job.ID)
		return j.ShardsDone >= 1
	})
	srv.Stop()
	t.Log("S3 server stopped")
	time.Sleep(4 * time.Second)
	srv.Start()
	t.Log("S3 server restarted")
	finishAndCheck(ctx, t, f, job.ID, "s3://farm/out", spec)
}

// TestWebDatasetNodeKilled: local output; a node is killed mid-shard, its
// shard is redone by the other node; the output verifies and resumes.
func TestWebDatasetNodeKilled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f := startDatasetFarm(t, testcluster.Options{NodeLeaseTTL: 2 * time.Second, LeaseTTL: 6 * time.Second}, nil)
	dir := f.c.OutputDir
	root, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	datasetPrompts(t, root)
	spec := datasetSpec("file://"+dir+"/prompts.jsonl", "file://"+dir+"/out")
	job, err := f.c.Client().SubmitJob(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "n0 mid-shard", func() bool {
		for _, tk := range f.c.Leader().Store().LeasesByNode()["n0"] {
			if tk.Progress >= 1 {
				return true
			}
		}
		return false
	})
	f.c.KillNode(0)
	finishAndCheck(ctx, t, f, job.ID, "file://"+dir+"/out", spec)
}

// setS3Env points storage.Open's S3 settings at srv.
func setS3Env(t *testing.T, srv *s3test.Server) {
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": s3test.AccessKey, "AWS_SECRET_ACCESS_KEY": s3test.SecretKey,
		"AWS_REGION": s3test.Region, "AWS_ENDPOINT_URL_S3": "", "AWS_ENDPOINT_URL": "", "S3_ENDPOINT": srv.Endpoint(),
		"SANAFARM_S3_LOOKUP": "path"} {
		t.Setenv(k, v)
	}
}

// finishAndCheck waits for the job and its manifest, checks the output,
// then damages two shards and checks that a resubmission redoes only them.
func finishAndCheck(ctx context.Context, t *testing.T, f *datasetFarm, id protocol.JobID, outURL string, spec protocol.JobSpec) {
	t.Helper()
	out := finishAndVerify(ctx, t, f, id, outURL)
	gen, reused := f.counts()
	t.Logf("first run: %d shards generated, %d reused", gen, reused)

	if err := out.Delete(ctx, storage.StatsKey("", 1)); err != nil {
		t.Fatal(err)
	}
	if err := out.Delete(ctx, storage.TarKey("", 2)); err != nil {
		t.Fatal(err)
	}
	job2, err := f.c.Client().SubmitJob(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if j, err := f.c.WaitJob(ctx, job2.ID); err != nil || j.State != protocol.JobDone {
		t.Fatalf("resumed job %+v: %v", j, err)
	}
	gen2, reused2 := f.counts()
	if gen2-gen != 2 || reused2-reused != 2 {
		t.Fatalf("resume generated %d and reused %d shards, want 2 and 2", gen2-gen, reused2-reused)
	}
	waitManifest(t, f, job2.ID)
	checkDataset(ctx, t, out, 4)
}

// finishAndVerify waits for the job and its manifest and checks every
// shard, tar member and manifest row; it returns the output store.
func finishAndVerify(ctx context.Context, t *testing.T, f *datasetFarm, id protocol.JobID, outURL string) storage.Store {
	t.Helper()
	j, err := f.c.WaitJob(ctx, id)
	if err != nil || j.State != protocol.JobDone {
		t.Fatalf("job %+v: %v", j, err)
	}
	out, err := storage.Open(ctx, outURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	waitManifest(t, f, id)
	checkDataset(ctx, t, out, 4)
	return out
}

// waitManifest waits until the leader has recorded the job's manifest
// (Job.ManifestAt): only then is every shard published (a node publishes
// after the leader's ack, the leader makes sure before the manifest), so a
// check of the output earlier could see a done shard without its objects.
// A manifest file's time is no proof: an earlier job into the same output
// may have written it a moment ago.
func waitManifest(t *testing.T, f *datasetFarm, id protocol.JobID) {
	t.Helper()
	waitFor(t, 30*time.Second, "the job manifest", func() bool {
		j, ok := f.c.Leader().Store().JobByID(id)
		return ok && !j.ManifestAt.IsZero()
	})
}

// checkDataset verifies every shard, every tar member against the stats
// and every manifest row against the members.
func checkDataset(ctx context.Context, t *testing.T, out storage.Store, shards int) {
	t.Helper()
	pngs := map[string]string{} // key → sha256 of its .png member
	for s := range shards {
		st, err := storage.VerifyShard(ctx, out, "", s, "")
		if err != nil {
			t.Fatal(err)
		}
		if st.Format != storage.FormatWebDataset || st.Images != 2 || st.RequestHash == "" || st.Node == "" {
			t.Fatalf("shard %d stats %+v", s, st)
		}
		checkTar(ctx, t, out, s, st, pngs)
	}
	rc, err := out.Get(ctx, storage.ManifestJSONL)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	rows := 0
	for ; sc.Scan(); rows++ {
		var r storage.ManifestRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Index != int64(rows) || r.Shard != int32(rows/2) || r.PNG != pngs[r.Key] || r.Status != storage.StatusOK ||
			r.Width != 128 || r.Object != storage.TarKey("", rows/2) {
			t.Fatalf("manifest row %d: %+v", rows, r)
		}
	}
	if rows != 2*shards {
		t.Fatalf("manifest has %d rows", rows)
	}
}

func checkTar(ctx context.Context, t *testing.T, out storage.Store, shard int, st storage.ShardStats, pngs map[string]string) {
	t.Helper()
	rc, err := out.Get(ctx, storage.TarKey("", shard))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var members []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("shard %d: %v", shard, err)
		}
		body, _ := io.ReadAll(tr)
		members = append(members, h.Name)
		key, ext, _ := strings.Cut(h.Name, ".")
		switch ext {
		case "png":
			sum := sha256.Sum256(body)
			pngs[key] = hex.EncodeToString(sum[:])
		case "json":
			checkProvenance(t, key, body)
		}
	}
	want := ""
	for _, s := range st.Samples {
		want += fmt.Sprintf("%s.png %s.json %s.txt ", s.Key, s.Key, s.Key)
		if pngs[s.Key] != s.PNG {
			t.Fatalf("shard %d sample %s: png sha256 differs from the stats", shard, s.Key)
		}
	}
	if strings.Join(members, " ")+" " != want {
		t.Fatalf("shard %d members %v", shard, members)
	}
}

func checkProvenance(t *testing.T, key string, body []byte) {
	t.Helper()
	var m struct {
		Prompt, NegativePrompt, RequestHash, ID, Node, DType string
		Seed                                                 uint64
		Extra                                                map[string]any
		ModelInfo                                            struct{ Weights []struct{ SHA256 string } } `json:"model_info"`
		PromptTemplate                                       struct{ SHA256 string }                     `json:"prompt_template"`
		SamplerConfig                                        map[string]any                              `json:"sampler_config"`
		Timings                                              map[string]float64
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	json.Unmarshal(body, &raw)
	m.NegativePrompt, _ = raw["negative_prompt"].(string)
	m.RequestHash, _ = raw["request_hash"].(string)
	if m.RequestHash == "" || m.Node == "" || len(m.ModelInfo.Weights) == 0 || m.ModelInfo.Weights[0].SHA256 == "" ||
		m.PromptTemplate.SHA256 == "" || m.SamplerConfig == nil || m.DType == "" || m.Timings["denoise"] <= 0 {
		t.Fatalf("%s.json lacks provenance: %s", key, body)
	}
	if key == storage.SampleKey(3) && (m.ID != "row-3" || m.NegativePrompt != "fog" || m.Seed != 99 || m.Extra["style"] != "ink") {
		t.Fatalf("%s.json lacks the row's fields: %s", key, body)
	}
}
