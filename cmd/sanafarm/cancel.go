package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/sanafarm/sanafarm/protocol"
)

// cancelFlags are the options of `sanafarm cancel`.
type cancelFlags struct {
	api    apiFlags
	reason string
}

func newCancelCmd() *cobra.Command {
	var f cancelFlags
	cmd := &cobra.Command{
		Use:   "cancel JOB",
		Short: "Cancel a job",
		Long: `cancel stops a job: no more shards are handed out and running shards' reports
are refused. Shards already written stay in the output.

It exits 0 when the job is cancelled, 1 when it could not be (unknown job, job
already finished, coordinator unreachable).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.api.check(); err != nil {
				return err
			}
			return runCancel(cmd.Context(), f, protocol.JobID(args[0]), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f.api.register(cmd.Flags())
	cmd.Flags().StringVar(&f.reason, "reason", "", "reason recorded with the job")
	return cmd
}

func runCancel(ctx context.Context, f cancelFlags, id protocol.JobID, stdout, stderr io.Writer) error {
	j, err := f.api.client().Cancel(ctx, id, f.reason)
	if err != nil {
		return failed(stderr, fmt.Errorf("cancelling job %q: %w", id, err))
	}
	if f.api.json() {
		return writeJSON(stdout, j)
	}
	fmt.Fprintf(stdout, "job %s %s (%d/%d shards done)\n", j.ID, j.State, j.ShardsDone, j.Shards)
	return nil
}
