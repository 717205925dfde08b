package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// exitError carries a specific exit code through cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run executes the CLI and returns the process exit code: 0 success, 1 a
// failed check or operation, 2 a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintln(stderr, "sanafarm:", err)
		return 2
	}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "sanafarm",
		Short:         "A distributed render farm for NVIDIA's Sana text-to-image models",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newGoldenCmd(), newGenerateCmd(), newModelsCmd())
	root.AddCommand(newDevCmd(), newCoordinatorCmd(), newNodeCmd(), newSubmitCmd(), newStatusCmd(), newCancelCmd(), newNodesCmd(), newGPUsCmd())
	root.AddCommand(newPauseCmd(), newResumeCmd(), newRetryCmd(), newPriorityCmd(), newRmCmd(), newDrainCmd(), newUndrainCmd())
	return root
}
