package chaos

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// Expect is what a finished job's output must hold.
type Expect struct {
	Job    protocol.JobID
	Images int // samples 0..Images-1, each exactly once
	Shards int
	Size   int // every PNG is Size×Size
	// Tasks is the coordinator's record of the job (optional): each
	// shard's stats and sidecars must be those of the attempt and node it
	// recorded as done, not of a fenced-off earlier attempt.
	Tasks []protocol.Task
	// AllowAttempts accepts objects under _attempts/ (attempt staging of
	// fenced writes); by default the job must leave none behind.
	AllowAttempts bool
}

// Output is a job's output to verify: Store is rooted at the job's
// output location, Keys lists every object of the whole container (the
// bucket, or the directory holding the output) and Prefix is where the
// output sits in it ("out" for s3://bucket/out).
type Output struct {
	Store  storage.Reader
	Keys   []string
	Prefix string
}

var (
	statsRe  = regexp.MustCompile(`^(\d{5})_stats\.json$`)
	objectRe = regexp.MustCompile(`^(\d{5})/(\d{9})\.(png|json|txt)$`)
	// shardPQRe is a shard's Parquet of its samples, listed in its stats.
	shardPQRe = regexp.MustCompile(`^(\d{5})\.parquet$`)
)

// VerifyOutput checks a finished job's output and returns every problem
// found, joined (nil when whole): nothing outside the output location
// and no unknown or temporary object inside it; for each shard, its
// _stats.json against its objects (every object present, size and
// SHA-256 as recorded, PNG chunk CRCs valid and the image decodable at
// the job's size, sidecars of the same job, shard, attempt and node, and
// the coordinator's record when known); the manifest listing every
// sample exactly once, consistent with the stats.
func VerifyOutput(ctx context.Context, out Output, e Expect) error {
	v := &verifier{ctx: ctx, out: out, e: e, files: map[string]bool{}, pngs: map[int64]string{}}
	rel := v.placement()
	for s := range e.Shards {
		v.shard(s)
	}
	for _, k := range rel {
		if !v.files[k] && !statsRe.MatchString(k) && k != storage.ManifestJSONL && k != storage.ManifestParquet {
			v.addf("%s: not listed by any shard's stats", k)
		}
	}
	v.manifest()
	return errors.Join(v.problems...)
}

type verifier struct {
	ctx      context.Context
	out      Output
	e        Expect
	problems []error
	files    map[string]bool  // objects listed by the stats
	pngs     map[int64]string // sample index → PNG sha256 by the stats
}

func (v *verifier) addf(format string, args ...any) {
	v.problems = append(v.problems, fmt.Errorf(format, args...))
}

// placement checks every key of the container and returns those inside
// the output location, relative to it.
func (v *verifier) placement() []string {
	var rel []string
	prefix := strings.Trim(v.out.Prefix, "/")
	for _, k := range v.out.Keys {
		if strings.Contains(path.Base(k), ".sanafarm-tmp") || strings.HasPrefix(path.Base(k), ".tmp") {
			v.addf("%s: temporary file left behind", k)
			continue
		}
		r := k
		if prefix != "" {
			var ok bool
			if r, ok = strings.CutPrefix(k, prefix+"/"); !ok {
				v.addf("%s: written outside the job's output location %q", k, prefix)
				continue
			}
		}
		switch {
		case strings.HasPrefix(r, "_attempts/"):
			if !v.e.AllowAttempts {
				v.addf("%s: attempt staging left behind after the job", k)
			}
		case statsRe.MatchString(r), objectRe.MatchString(r), shardPQRe.MatchString(r), r == storage.ManifestJSONL,
			r == storage.ManifestParquet:
			rel = append(rel, r)
		default:
			v.addf("%s: unexpected object in the output", k)
		}
	}
	return rel
}

// shard checks one shard's stats against its objects and the record.
func (v *verifier) shard(s int) {
	st, err := storage.ReadStats(v.ctx, v.out.Store, "", s)
	if err != nil {
		v.addf("shard %05d: stats: %w", s, err)
		return
	}
	if st.Job != string(v.e.Job) {
		v.addf("shard %05d: stats of job %q, want %q", s, st.Job, v.e.Job)
	}
	if st.Failed != 0 || len(st.Failures) != 0 {
		v.addf("shard %05d: %d failed samples: %v", s, st.Failed, st.Failures)
	}
	v.record(st)
	v.samples(st)
	for _, f := range st.Files {
		v.files[f.Key] = true
		v.object(st, f)
	}
}

// record compares the stats with the coordinator's done attempt.
func (v *verifier) record(st storage.ShardStats) {
	for _, tk := range v.e.Tasks {
		if tk.Shard != st.Shard {
			continue
		}
		node := tk.Assignee
		if tk.Result != nil && tk.Result.Node != "" {
			node = tk.Result.Node
		}
		if tk.State != protocol.TaskDone || tk.Attempt != st.Attempt || node != st.Node {
			v.addf("shard %05d: stats say attempt %d by %s; the coordinator recorded %s attempt %d by %s",
				st.Shard, st.Attempt, st.Node, tk.State, tk.Attempt, node)
		}
	}
}

// samples checks the stats list each sample of [Start, End) once.
func (v *verifier) samples(st storage.ShardStats) {
	if st.End-st.Start != int64(len(st.Samples)) || st.Images != len(st.Samples) {
		v.addf("shard %05d: [%d, %d) but %d samples and images=%d", st.Shard, st.Start, st.End, len(st.Samples), st.Images)
	}
	for i, r := range st.Samples {
		if want := st.Start + int64(i); r.Index != want {
			v.addf("shard %05d: sample %d has index %d, want %d", st.Shard, i, r.Index, want)
		}
		if r.Status != storage.StatusOK {
			v.addf("shard %05d: sample %d: status %q (%s)", st.Shard, r.Index, r.Status, r.Reason)
		}
		if _, dup := v.pngs[r.Index]; dup {
			v.addf("sample %d: listed by two shards", r.Index)
		}
		v.pngs[r.Index] = r.PNG
	}
}

// object checks one object of a shard: size and SHA-256 against the
// stats, and by kind, the PNG's chunks or the sidecar's provenance.
func (v *verifier) object(st storage.ShardStats, f storage.ObjectDigest) {
	b, err := v.read(f.Key)
	if err != nil {
		v.addf("shard %05d: %s: %w", st.Shard, f.Key, err)
		return
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); int64(len(b)) != f.Size || got != f.SHA256 {
		v.addf("shard %05d: %s is %d bytes sha256 %.12s, stats say %d bytes %.12s", st.Shard, f.Key, len(b), got,
			f.Size, f.SHA256)
		return
	}
	switch path.Ext(f.Key) {
	case ".png":
		if err := CheckPNG(b, v.e.Size); err != nil {
			v.addf("shard %05d: %s: %w", st.Shard, f.Key, err)
		}
	case ".json":
		v.sidecar(st, f.Key, b)
	}
}

// sidecar checks a sample's .json provenance names the same job, shard,
// attempt and node as the shard's stats.
func (v *verifier) sidecar(st storage.ShardStats, key string, b []byte) {
	var m struct {
		Job     string `json:"job"`
		Shard   int    `json:"shard"`
		Node    string `json:"node"`
		Attempt int    `json:"attempt"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		v.addf("%s: %w", key, err)
		return
	}
	if m.Job != st.Job || m.Shard != st.Shard || m.Node != st.Node || m.Attempt != st.Attempt {
		v.addf("%s: sidecar says job %s shard %d attempt %d by %s; the stats say job %s shard %d attempt %d by %s",
			key, m.Job, m.Shard, m.Attempt, m.Node, st.Job, st.Shard, st.Attempt, st.Node)
	}
}

func (v *verifier) read(key string) ([]byte, error) {
	rc, err := v.out.Store.Get(v.ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// manifest checks manifest.jsonl lists every sample once, as the stats
// do, and that manifest.parquet exists.
func (v *verifier) manifest() {
	b, err := v.read(storage.ManifestJSONL)
	if err != nil {
		v.addf("%s: %w", storage.ManifestJSONL, err)
		return
	}
	if _, err := v.out.Store.Stat(v.ctx, storage.ManifestParquet); err != nil {
		v.addf("%s: %w", storage.ManifestParquet, err)
	}
	seen := map[int64]int{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		var r storage.ManifestRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			v.addf("%s:%d: %w", storage.ManifestJSONL, line, err)
			continue
		}
		seen[r.Index]++
		want, ok := v.pngs[r.Index]
		switch {
		case r.Index < 0 || r.Index >= int64(v.e.Images):
			v.addf("%s:%d: sample %d outside the job's %d", storage.ManifestJSONL, line, r.Index, v.e.Images)
		case !ok || r.PNG != want || !v.files[r.Object]:
			v.addf("%s:%d: sample %d (%s, png %.12s) disagrees with the stats (png %.12s)", storage.ManifestJSONL,
				line, r.Index, r.Object, r.PNG, want)
		case r.Status != storage.StatusOK:
			v.addf("%s:%d: sample %d status %q", storage.ManifestJSONL, line, r.Index, r.Status)
		}
	}
	for i := range int64(v.e.Images) {
		if seen[i] != 1 {
			v.addf("%s: sample %d listed %d times, want once", storage.ManifestJSONL, i, seen[i])
		}
	}
}

// StoreKeys lists every key of a store (a whole bucket when opened at
// its root).
func StoreKeys(ctx context.Context, s storage.Store) ([]string, error) {
	var keys []string
	for info, err := range s.List(ctx, "") {
		if err != nil {
			return keys, err
		}
		keys = append(keys, info.Key)
	}
	return keys, nil
}

// DirKeys lists every file under dir as slash paths, hidden and
// temporary files included (a store's List may skip those).
func DirKeys(dir string) ([]string, error) {
	var keys []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		r, err := filepath.Rel(dir, p)
		keys = append(keys, filepath.ToSlash(r))
		return err
	})
	return keys, err
}
