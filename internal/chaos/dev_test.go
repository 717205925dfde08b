package chaos

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
)

const devKills = 3

// devKillLoop: sanafarm dev (the one-process farm) is killed with
// SIGKILL mid-job and restarted with the same --data, devKills times;
// the job must then complete with its output whole.
func devKillLoop(t *testing.T, r *Result) {
	b := Build(t)
	root := t.TempDir()
	outRoot := filepath.Join(root, "outputs")
	http := freeAddr(t)
	args := []string{b.Sanafarm, "dev", "--data", filepath.Join(root, "data"), "--http", http,
		"--cache", ModelCache(t), "--threads", "2", "--poll-interval", "250ms", "--node-ttl", nodeTTL,
		"--lease-ttl", leaseTTL, "--drain-timeout", "2s", "--log-level", "info"}
	args = append(args, b.allowWrite("dev", outRoot)...)
	dev := StartProc(t, "dev", args, []string{"TMPDIR=" + t.TempDir(), "SANAFARM_TOKEN=" + apiToken})
	defer checkLogsClean(t, []*Proc{dev})
	api := client.New("http://"+http, apiToken)
	apis := func() []*client.Client { return []*client.Client{api} }
	waitDevLeader(t, dev, api)
	spec := DefaultJob
	job := spec.Submit(t, b.Sanafarm, "http://"+http, filepath.Join(outRoot, outPrefix))
	submitted := time.Now()
	var fault time.Time
	var last protocol.TaskKey
	lastAttempt := 0
	for i := range devKills {
		// Kill only once the restarted farm made progress on a lease of
		// its own (the killed one's lease lingers until it expires).
		tk := WaitTask(t, apis, job, endBound, "progress before kill", func(tk protocol.Task) bool {
			return tk.State == protocol.TaskLeased && tk.Progress >= 1 && (tk.TaskKey != last || tk.Attempt != lastAttempt)
		}, dev)
		last, lastAttempt = tk.TaskKey, tk.Attempt
		fault = time.Now()
		dev.Kill()
		t.Logf("kill %d of sanafarm dev at %v", i+1, time.Since(submitted).Round(100*time.Millisecond))
		if err := dev.Start(); err != nil {
			t.Fatal(err)
		}
		waitDevLeader(t, dev, api)
	}
	final, tasks := WaitJob(t, apis, job, endBound, dev)
	r.Recovery, r.Job = time.Since(fault), time.Since(submitted)
	if final.State != protocol.JobDone {
		t.Fatalf("job %s ended %s: %s\n%s", job, final.State, final.Error, describeTasks(tasks))
	}
	out, err := storage.NewLocal(filepath.Join(outRoot, outPrefix))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	r.Manifest = waitManifest(t, out)
	keys, err := DirKeys(outRoot)
	if err != nil {
		t.Fatal(err)
	}
	e := Expect{Job: job, Images: spec.Images(), Shards: spec.Shards(), Size: spec.Size, Tasks: tasks}
	if err := VerifyOutput(context.Background(), Output{Store: out, Keys: keys, Prefix: outPrefix}, e); err != nil {
		t.Fatalf("job %s output:\n%v\ntasks:\n%s", job, err, describeTasks(tasks))
	}
}

func waitDevLeader(t *testing.T, dev *Proc, api *client.Client) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		h, err := api.Health(ctx)
		cancel()
		if err == nil && h.Role == "leader" {
			return
		}
		if exited, why := dev.Exited(); exited {
			t.Fatalf("sanafarm dev exited: %v\n%s", why, dev.Logs())
		}
		if time.Now().After(deadline) {
			t.Fatalf("sanafarm dev not leading after 60 s: %v\n%s", err, dev.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
