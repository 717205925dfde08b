package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/protocol"
)

// statusFlags are the options of `sanafarm status`.
type statusFlags struct {
	api   apiFlags
	state string
	tasks bool
	from  int
	limit int
	watch bool
}

func newStatusCmd() *cobra.Command {
	var f statusFlags
	cmd := &cobra.Command{
		Use:   "status [JOB]",
		Short: "Show the jobs, or one job with its shard counts",
		Long: `status lists the jobs (newest last) or, given a job id, shows the job: state,
shards and images done, shards by state, and with --tasks its shards (attempt,
node, progress, failures). With --watch, it then follows the job through the
coordinator's event stream (GET /v1/events), printing a line when its state
changes and at most one a second while images are made, until the job ends.

It exits 0 when the coordinator answered (whatever the job's state), 1 when it
could not (unreachable, unknown job).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.api.check(); err != nil {
				return err
			}
			if f.limit < 0 || f.limit > api.MaxTaskPage || f.from < 0 {
				return usagef("--from %d --limit %d: want --from >= 0 and --limit in 0..%d (page with --from)",
					f.from, f.limit, api.MaxTaskPage)
			}
			if err := f.checkArgs(len(args) == 1); err != nil {
				return err
			}
			if len(args) == 0 {
				return listJobs(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			if err := showJob(cmd.Context(), f, protocol.JobID(args[0]), cmd.OutOrStdout(), cmd.ErrOrStderr()); err != nil || !f.watch {
				return err
			}
			return watchStatus(cmd.Context(), f, protocol.JobID(args[0]), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	f.api.register(fl)
	fl.StringVar(&f.state, "state", "", "list only jobs in this state: queued, running, done, failed, cancelled")
	fl.BoolVar(&f.tasks, "tasks", false, "with JOB: list its shards")
	fl.BoolVar(&f.watch, "watch", false, "with JOB: follow it until it ends (event stream)")
	fl.IntVar(&f.from, "from", 0, "with --tasks: first shard listed")
	fl.IntVar(&f.limit, "limit", 100, fmt.Sprintf("with --tasks: shards listed at most (at most %d; page with --from)", api.MaxTaskPage))
	return cmd
}

// checkArgs rejects flags that do nothing with (withJob) or without a
// JOB argument, and a --state that names no job state.
func (f statusFlags) checkArgs(withJob bool) error {
	switch protocol.JobState(f.state) {
	case "", protocol.JobQueued, protocol.JobRunning, protocol.JobDone, protocol.JobFailed, protocol.JobCancelled:
	default:
		return usagef("--state %q: want queued, running, done, failed or cancelled", f.state)
	}
	switch {
	case withJob && f.state != "":
		return usagef("--state filters the job list: leave out JOB, or --state")
	case !withJob && (f.tasks || f.watch):
		return usagef("--tasks and --watch show one job: give its id (sanafarm status JOB --tasks)")
	}
	return nil
}

// watchStatus follows a job (status JOB --watch) until it ends.
func watchStatus(ctx context.Context, f statusFlags, id protocol.JobID, stdout, stderr io.Writer) error {
	w := jobWatch{cl: f.api.client(), show: watchLines(stdout), stderr: stderr}
	_, err := w.run(ctx, id)
	if errors.Is(err, errNoEventStream) {
		_, err = w.pollWatch(ctx, id, time.Second)
	}
	if err != nil {
		return failed(stderr, err)
	}
	return nil
}

func listJobs(ctx context.Context, f statusFlags, stdout, stderr io.Writer) error {
	jobs, err := f.api.client().Jobs(ctx, protocol.JobState(f.state))
	if err != nil {
		return failed(stderr, fmt.Errorf("listing jobs: %w", err))
	}
	if f.api.json() {
		if jobs == nil {
			jobs = []protocol.Job{} // "jobs": [], not null
		}
		return writeJSON(stdout, api.JobList{Jobs: jobs})
	}
	if len(jobs) == 0 {
		fmt.Fprintln(stdout, noJobs(f.state))
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTATE\tSHARDS\tIMAGES\tMODEL\tAGE\tNAME")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d/%d\t%s\t%s\t%s\n", j.ID, j.State, j.ShardsDone, j.Shards, j.ImagesDone,
			j.Images, j.Spec.Model, age(j.CreatedAt), j.Spec.Name)
	}
	return tw.Flush()
}

// noJobs is what status prints instead of an empty table: a header
// alone looks like a failure to someone who has not submitted yet.
func noJobs(state string) string {
	if state != "" {
		return fmt.Sprintf("no %s jobs (sanafarm status lists them all)", state)
	}
	return "no jobs yet: submit one with 'sanafarm submit --model sana-tiny -p \"a red fox\" --dest out/' (see 'sanafarm submit --help')"
}

func showJob(ctx context.Context, f statusFlags, id protocol.JobID, stdout, stderr io.Writer) error {
	d, err := f.api.client().Job(ctx, id, f.tasks, f.from, f.limit)
	if err != nil {
		return failed(stderr, fmt.Errorf("reading job %q: %w", id, err))
	}
	if f.api.json() {
		return writeJSON(stdout, d)
	}
	j := d.Job
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "job:\t%s %s\n", j.ID, j.Spec.Name)
	fmt.Fprintf(tw, "state:\t%s\n", j.State)
	if j.Error != "" {
		fmt.Fprintf(tw, "error:\t%s\n", j.Error)
	}
	fmt.Fprintf(tw, "model:\t%s\n", j.Spec.Model)
	fmt.Fprintf(tw, "images:\t%d/%d\n", j.ImagesDone, j.Images)
	fmt.Fprintf(tw, "shards:\t%d/%d (queued %d, leased %d, done %d, failed %d)\n", j.ShardsDone, j.Shards,
		d.Counts.Queued, d.Counts.Leased, d.Counts.Done, d.Counts.Failed)
	fmt.Fprintf(tw, "output:\t%s\n", j.Spec.Output.URL)
	fmt.Fprintf(tw, "created:\t%s (%s ago)\n", j.CreatedAt.Local().Format(time.DateTime), age(j.CreatedAt))
	if at := j.TimeoutAt(); !at.IsZero() {
		verb := "fails at"
		if j.State.Terminal() {
			verb = "was due"
		}
		fmt.Fprintf(tw, "timeout:\t%s from the run's start: %s %s\n", j.Spec.Timeout, verb, at.Local().Format(time.DateTime))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if f.tasks {
		return printTasks(stdout, d.Tasks)
	}
	return nil
}

func printTasks(w io.Writer, tasks []protocol.Task) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSHARD\tSTATE\tATTEMPT\tNODE\tIMAGES\tFAILURES")
	for _, t := range tasks {
		node := t.Assignee
		if t.Result != nil {
			node = t.Result.Node
		}
		fails := ""
		for _, fl := range t.Failures {
			note := ""
			switch {
			case fl.NodeFault && fl.NoFault:
				note = " (the node's fault, not counted)"
			case fl.NodeFault:
				note = " (the node's fault)"
			case fl.NoFault:
				note = " (not counted)"
			}
			fails += fmt.Sprintf("#%d %s: %s%s; ", fl.Attempt, fl.Node, fl.Reason, note)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%d/%d\t%s\n", t.Shard, t.State, t.Attempt, node, t.Progress, t.End-t.Start, fails)
	}
	return tw.Flush()
}

// age renders how long ago t was, to the second.
func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String()
}
