package chaos

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/internal/s3test"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

// Bounds: a job must end this long after its fault, and its manifest
// must follow the end within manifestBound.
const (
	endBound      = 3 * time.Minute
	manifestBound = time.Minute
	outPrefix     = "out"
)

// farmRun is one scenario run on a fresh multi-process farm.
type farmRun struct {
	t         *testing.T
	f         *Farm
	r         *Result
	spec      Job
	job       protocol.JobID
	submitted time.Time
	fault     time.Time
}

// newFarmRun starts a farm and submits DefaultJob to s3://chaos/out.
func newFarmRun(t *testing.T, r *Result) *farmRun { return newFarmRunJob(t, r, DefaultJob) }

// newFarmRunJob starts a farm and submits spec to s3://chaos/out.
func newFarmRunJob(t *testing.T, r *Result, spec Job) *farmRun {
	f := StartFarm(t)
	fr := &farmRun{t: t, f: f, r: r, spec: spec}
	l, _ := f.WaitLeader(30 * time.Second)
	fr.job = fr.spec.Submit(t, f.Bins.Sanafarm, "https://"+l.HTTP, "s3://"+bucket+"/"+outPrefix,
		"SANAFARM_CA_CERT="+f.CA.File)
	fr.submitted = time.Now()
	t.Logf("job %s: %d images in %d shards", fr.job, fr.spec.Images(), fr.spec.Shards())
	return fr
}

// apis lists the running coordinators' APIs, the leader first.
func (fr *farmRun) apis() []*client.Client {
	var cs []*client.Client
	if l := fr.f.Leader(); l != nil {
		cs = append(cs, l.API)
	}
	for _, c := range fr.f.Coords {
		if c.Running() {
			cs = append(cs, c.API)
		}
	}
	return cs
}

// waitDone waits until n shards are done.
func (fr *farmRun) waitDone(n int) {
	fr.t.Helper()
	fr.f.waitUntil(endBound, "shards done", func() bool {
		job, tasks, err := JobDetail(fr.apis, fr.job)
		if err == nil && job.State.Terminal() && countDone(tasks) < n {
			fr.t.Fatalf("job %s ended %s before %d shards were done: %s\n%s", fr.job, job.State, n, job.Error,
				describeTasks(tasks))
		}
		return err == nil && countDone(tasks) >= n
	}, fr.f.AllProcs()...)
}

// waitLeased waits until node holds a shard lease and has reported
// progress (so a fault lands mid-shard) and returns the task.
func (fr *farmRun) waitLeased(node string) protocol.Task {
	fr.t.Helper()
	return WaitTask(fr.t, fr.apis, fr.job, endBound, "a shard leased to "+node, func(tk protocol.Task) bool {
		return LeasedTo(node)(tk) && tk.Progress >= 1
	}, fr.f.AllProcs()...)
}

// faultNow marks the fault's injection (Recovery is measured from it).
func (fr *farmRun) faultNow() { fr.fault = time.Now() }

// finish waits for the job's end, requires it done, and verifies the
// output; it returns the coordinator's final record of the tasks.
func (fr *farmRun) finish() []protocol.Task {
	fr.t.Helper()
	job, tasks := WaitJob(fr.t, fr.apis, fr.job, endBound, fr.f.AllProcs()...)
	end := time.Now()
	fr.r.Recovery, fr.r.Job = end.Sub(fr.fault), end.Sub(fr.submitted)
	if job.State != protocol.JobDone {
		fr.t.Fatalf("job %s ended %s: %s\n%s", fr.job, job.State, job.Error, describeTasks(tasks))
	}
	fr.r.Manifest = fr.verify(tasks)
	return tasks
}

// verify waits for the manifest and checks the whole bucket; it returns
// how long the manifest took.
func (fr *farmRun) verify(tasks []protocol.Task) time.Duration {
	fr.t.Helper()
	ctx := context.Background()
	cfg := storage.S3Config{Endpoint: fr.f.S3.Endpoint(), Region: s3test.Region, AccessKey: s3test.AccessKey,
		SecretKey: s3test.SecretKey}
	out, err := storage.OpenS3(ctx, "s3://"+bucket+"/"+outPrefix, cfg)
	if err != nil {
		fr.t.Fatal(err)
	}
	defer out.Close()
	root, err := storage.OpenS3(ctx, "s3://"+bucket, cfg)
	if err != nil {
		fr.t.Fatal(err)
	}
	defer root.Close()
	lag := waitManifest(fr.t, out)
	keys, err := StoreKeys(ctx, root)
	if err != nil {
		fr.t.Fatalf("listing the bucket: %v", err)
	}
	e := Expect{Job: fr.job, Images: fr.spec.Images(), Shards: fr.spec.Shards(), Size: fr.spec.Size, Tasks: tasks}
	if err := VerifyOutput(ctx, Output{Store: out, Keys: keys, Prefix: outPrefix}, e); err != nil {
		fr.t.Fatalf("job %s output:\n%v\ntasks:\n%s", fr.job, err, describeTasks(tasks))
	}
	checkOutputsClean(ctx, fr.t, root, keys)
	return lag
}

// waitManifest waits for manifest.jsonl and returns how long it took.
func waitManifest(t *testing.T, out storage.Reader) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := out.Stat(ctx, storage.ManifestParquet)
		cancel()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > manifestBound {
			t.Fatalf("no %s %v after the job ended: %v", storage.ManifestParquet, manifestBound, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// trailLines bounds the lines trail shows of each process.
const trailLines = 20

// trail is what every process of the farm logged about shard: the last
// lines naming it, so a failed run says what happened to the shard at
// the leader and on the nodes without the whole logs (CHAOS_LOGS).
func (fr *farmRun) trail(shard int) string {
	re := regexp.MustCompile(fmt.Sprintf(`\bshard=%d\b`, shard))
	var b strings.Builder
	for _, p := range fr.f.AllProcs() {
		var hits []string
		for _, l := range strings.Split(p.log.Tail(1<<30), "\n") {
			if re.MatchString(l) {
				hits = append(hits, l)
			}
		}
		if len(hits) > 0 {
			fmt.Fprintf(&b, "==== %s on shard %d (last %d of %d lines):\n%s\n", p.Name, shard, min(len(hits), trailLines),
				len(hits), strings.Join(hits[max(len(hits)-trailLines, 0):], "\n"))
		}
	}
	return b.String()
}
