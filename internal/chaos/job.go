package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/protocol"
)

// Job is what every scenario submits: sana-tiny at its smallest useful
// size with 2 steps, in small shards, so that faults land mid-shard and a
// job takes ~20–40 s on a loaded 2-core machine.
type Job struct {
	Prompts   int // distinct prompts
	PerPrompt int // images per prompt
	ShardSize int
	Size      int // width = height
	Steps     int
	// MaxAttempts per shard (0: the submit default).
	MaxAttempts int
}

// DefaultJob: 64 images in 8 shards of 8 (~2–4 s a shard on one core).
var DefaultJob = Job{Prompts: 16, PerPrompt: 4, ShardSize: 8, Size: 128, Steps: 2}

// Images is the job's sample count.
func (j Job) Images() int { return j.Prompts * j.PerPrompt }

// Shards is the job's shard count.
func (j Job) Shards() int { return (j.Images() + j.ShardSize - 1) / j.ShardSize }

// Submit runs sanafarm submit against addr (an API base URL) with the
// token and env (SANAFARM_CA_CERT=...) in its environment and returns the
// job id; the CLI is what an operator uses, so it is what is tested.
func (j Job) Submit(t testing.TB, bin, addr, out string, env ...string) protocol.JobID {
	t.Helper()
	args := []string{"submit", "--addr", addr, "--model", "sana-tiny", "-o", "json",
		"-n", strconv.Itoa(j.PerPrompt), "--steps", strconv.Itoa(j.Steps), "--width", strconv.Itoa(j.Size),
		"--height", strconv.Itoa(j.Size), "--shard-size", strconv.Itoa(j.ShardSize), "--seed", "7", "--dest", out}
	if j.MaxAttempts > 0 {
		args = append(args, "--max-attempts", strconv.Itoa(j.MaxAttempts))
	}
	for i := range j.Prompts {
		args = append(args, "-p", fmt.Sprintf("chaos prompt %d: a lighthouse on a cliff", i))
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "SANAFARM_TOKEN="+apiToken), env...)
	b, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("sanafarm submit: %v\n%s", err, msg)
	}
	var job protocol.Job
	if err := json.Unmarshal(b, &job); err != nil || job.ID == "" {
		t.Fatalf("sanafarm submit printed %q: %v", b, err)
	}
	return job.ID
}

// APIs returns the API clients to ask, in order (the farm's running
// coordinators, or the one dev farm).
type APIs func() []*client.Client

// JobDetail asks each API in turn for the job (with its tasks) and
// returns the first answer.
func JobDetail(apis APIs, id protocol.JobID) (protocol.Job, []protocol.Task, error) {
	var last error = fmt.Errorf("no coordinator running")
	for _, c := range apis() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		d, err := c.Job(ctx, id, true, 0, 1000)
		cancel()
		if err == nil {
			return d.Job, d.Tasks, nil
		}
		last = err
	}
	return protocol.Job{}, nil, last
}

// WaitJob polls until the job is terminal and returns it; after limit it
// fails the test (a job that never ends is the bug this suite exists to
// catch), showing the tasks and the logs of procs.
func WaitJob(t testing.TB, apis APIs, id protocol.JobID, limit time.Duration, procs ...*Proc) (protocol.Job, []protocol.Task) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var (
		job   protocol.Job
		tasks []protocol.Task
		err   error
	)
	for {
		job, tasks, err = JobDetail(apis, id)
		if err == nil && job.State.Terminal() {
			return job, tasks
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s did not end within %v: state %q (last error: %v)\ntasks:\n%s\n%s", id, limit, job.State,
				err, describeTasks(tasks), logsOf(procs))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// WaitTask waits until a task of the job satisfies ok and returns it.
func WaitTask(t testing.TB, apis APIs, id protocol.JobID, limit time.Duration, what string,
	ok func(protocol.Task) bool, procs ...*Proc) protocol.Task {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		job, tasks, err := JobDetail(apis, id)
		for _, tk := range tasks {
			if ok(tk) {
				return tk
			}
		}
		if err == nil && job.State.Terminal() {
			t.Fatalf("job %s ended (%s: %s) before %s\n%s\n%s", id, job.State, job.Error, what, describeTasks(tasks),
				logsOf(procs))
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (job state %q, err %v)\n%s\n%s", limit, what, job.State, err,
				describeTasks(tasks), logsOf(procs))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// LeasedTo matches a shard leased to node that is not done yet.
func LeasedTo(node string) func(protocol.Task) bool {
	return func(tk protocol.Task) bool { return tk.State == protocol.TaskLeased && tk.Assignee == node }
}

// countDone counts the done tasks.
func countDone(tasks []protocol.Task) int {
	n := 0
	for _, tk := range tasks {
		if tk.State == protocol.TaskDone {
			n++
		}
	}
	return n
}

func describeTasks(tasks []protocol.Task) string {
	var b strings.Builder
	for _, tk := range tasks {
		fmt.Fprintf(&b, "  shard %d: %s attempt %d on %q progress %d", tk.Shard, tk.State, tk.Attempt, tk.Assignee, tk.Progress)
		for _, f := range tk.Failures {
			fmt.Fprintf(&b, " [failed attempt %d on %s: %s]", f.Attempt, f.Node, f.Reason)
		}
		b.WriteString("\n")
	}
	return b.String()
}
