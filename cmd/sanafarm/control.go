package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sanafarm/sanafarm/coordinator/client"
	"github.com/sanafarm/sanafarm/protocol"
)

// Job control commands: pause, resume, retry, priority, rm
// (docs/architecture.md, "Job and node control"). Each exits 0 when the
// coordinator applied the change, 1 when it refused it or could not be
// reached, 2 on a usage error.

const controlExit = `

It exits 0 when the change is applied, 1 when it is refused (unknown job, wrong
state) or the coordinator is unreachable, 2 on a usage error.`

// nodeControlExit is controlExit for drain and undrain, which name a node
// that may not have joined yet (the drain flag waits for it).
const nodeControlExit = `

It exits 0 when the change is applied (also for a node the coordinator does
not know yet: a note on stderr then lists the nodes it knows), 1 when the
coordinator refuses it or is unreachable, 2 on a usage error.`

// jobCmd builds a one-argument job command that calls do and prints the job.
func jobCmd(use, short, long, verb string, do func(ctx context.Context, c *client.Client, id protocol.JobID, args []string) (protocol.Job, error)) *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{Use: use, Short: short, Long: long + controlExit}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := f.check(); err != nil {
			return err
		}
		id := protocol.JobID(args[0])
		j, err := do(cmd.Context(), f.client(), id, args[1:])
		if err != nil {
			return failed(cmd.ErrOrStderr(), fmt.Errorf("%s job %q: %w", verb, id, err))
		}
		return printJob(cmd.OutOrStdout(), f, j)
	}
	f.register(cmd.Flags())
	return cmd
}

func printJob(w io.Writer, f apiFlags, j protocol.Job) error {
	if f.json() {
		return writeJSON(w, j)
	}
	paused := ""
	if j.Paused {
		paused = ", paused"
	}
	fmt.Fprintf(w, "job %s %s%s, priority %d (%d/%d shards done)\n", j.ID, j.State, paused, j.EffectivePriority(), j.ShardsDone, j.Shards)
	return nil
}

func newPauseCmd() *cobra.Command {
	cmd := jobCmd("pause JOB", "Pause a job: no new shards are handed out",
		`pause stops handing out the job's shards; shards already running finish and
are kept. resume undoes it.`, "pausing",
		func(ctx context.Context, c *client.Client, id protocol.JobID, _ []string) (protocol.Job, error) {
			return c.Pause(ctx, id)
		})
	cmd.Args = cobra.ExactArgs(1)
	return cmd
}

func newResumeCmd() *cobra.Command {
	cmd := jobCmd("resume JOB", "Resume a paused job", `resume hands out a paused job's shards again.`, "resuming",
		func(ctx context.Context, c *client.Client, id protocol.JobID, _ []string) (protocol.Job, error) {
			return c.Resume(ctx, id)
		})
	cmd.Args = cobra.ExactArgs(1)
	return cmd
}

func newRetryCmd() *cobra.Command {
	cmd := jobCmd("retry JOB", "Run a job's failed shards again",
		`retry puts the job's failed shards back in the queue. Each runs as a new
attempt (its earlier attempts stay fenced off and no longer count toward
--max-attempts), and the job's per-node blocklist is cleared. A failed job
becomes running again, its other unfinished shards too; a done or cancelled
job is refused.`, "retrying",
		func(ctx context.Context, c *client.Client, id protocol.JobID, _ []string) (protocol.Job, error) {
			return c.Retry(ctx, id)
		})
	cmd.Args = cobra.ExactArgs(1)
	return cmd
}

func newPriorityCmd() *cobra.Command {
	cmd := jobCmd("priority JOB N", "Change a job's scheduling priority",
		`priority sets the job's priority to N (an integer, negative allowed): free
slots go to the highest priority with queued shards first, jobs of equal
priority share fairly. Running shards are not interrupted. A negative N follows
--: sanafarm priority JOB -- -5.`, "changing the priority of",
		func(ctx context.Context, c *client.Client, id protocol.JobID, args []string) (protocol.Job, error) {
			n, _ := strconv.Atoi(args[0]) // checked by Args
			return c.SetPriority(ctx, id, n)
		})
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(2)(cmd, args); err != nil {
			return err
		}
		if _, err := strconv.Atoi(args[1]); err != nil {
			return fmt.Errorf("priority %q: want an integer", args[1])
		}
		return nil
	}
	return cmd
}

func newRmCmd() *cobra.Command {
	var f apiFlags
	var force bool
	cmd := &cobra.Command{
		Use:   "rm JOB",
		Short: "Delete a finished job from the coordinator's state",
		Long: `rm deletes a done, failed or cancelled job from the coordinator's state; its
outputs (shards, manifest) are not touched. A running job is refused: cancel it
first. A job whose manifest is not written yet is refused unless --force (its
manifest would then never be written). The coordinator also deletes finished
jobs itself after --job-retention / beyond --job-retention-count.` + controlExit,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			id := protocol.JobID(args[0])
			if err := f.client().Delete(cmd.Context(), id, force); err != nil {
				return failed(cmd.ErrOrStderr(), fmt.Errorf("deleting job %q: %w", id, err))
			}
			if f.json() {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"id": id, "deleted": true})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "job %s deleted\n", id)
			return nil
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().BoolVar(&force, "force", false, "delete even if the job's manifest is not written yet")
	return cmd
}
