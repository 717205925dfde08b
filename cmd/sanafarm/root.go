package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// The exit status of every command (README.md, "Exit codes"):
//
//	0 success;
//	1 the operation was attempted and failed: a coordinator unreachable or
//	  refusing, a file that cannot be read or written, a model that cannot
//	  be found, downloaded or loaded, a failed job or golden case;
//	2 a usage error, found before anything is attempted: an unknown command
//	  or flag, a flag value that does not parse, the wrong number of
//	  arguments (all reported by cobra before RunE runs), or a flag value
//	  a command rejects itself (out of range, not one of the allowed
//	  values, conflicting with another flag: usageError).
//
// So an error a RunE returns is 1 unless it is a usageError, and any
// error cobra returns before RunE is 2.

// exitError carries a specific exit code through cobra (the message, if
// any, was already printed).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError is a command line a command rejects before doing anything
// (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError.
func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// usage marks err (nil stays nil) as a usage error.
func usage(err error) error {
	var ue usageError
	if err == nil || errors.As(err, &ue) {
		return err
	}
	return usageError{err}
}

// opError is an error a command's RunE returned that is not a usage
// error: a failed operation (exit status 1).
type opError struct{ err error }

func (e opError) Error() string { return e.err.Error() }
func (e opError) Unwrap() error { return e.err }

// run executes the CLI and returns the process exit code (see above).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	code := exitCode(err)
	var ee exitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintln(stderr, "sanafarm:", err)
		if code == 2 {
			fmt.Fprintln(stderr, usageHint(cmd))
		}
	}
	return code
}

// usageHint names the help of the command a usage error came from (cobra
// returns the deepest command it found, the root for an unknown one).
func usageHint(cmd *cobra.Command) string {
	if cmd == nil || !cmd.HasParent() {
		return "Run 'sanafarm --help' for the commands, 'sanafarm COMMAND --help' for their flags."
	}
	return fmt.Sprintf("Run '%s --help' for its usage and flags.", cmd.CommandPath())
}

// exitCode maps an error of root.Execute to the exit status.
func exitCode(err error) int {
	var (
		ee exitError
		ue usageError
		oe opError
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		return 2
	case errors.As(err, &oe):
		return 1
	default: // from cobra, before RunE: flags, arguments, unknown command
		return 2
	}
}

// operationalErrors wraps the RunE of c and of every command below it so
// that its plain errors are failed operations (opError), leaving usage
// and exit errors as they are.
func operationalErrors(c *cobra.Command) {
	if runE := c.RunE; runE != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			err := runE(cmd, args)
			var (
				ee exitError
				ue usageError
			)
			if err == nil || errors.As(err, &ee) || errors.As(err, &ue) {
				return err
			}
			return opError{err}
		}
	}
	for _, sub := range c.Commands() {
		operationalErrors(sub)
	}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "sanafarm",
		Short: "A distributed render farm for NVIDIA's Sana text-to-image models",
		Long: `sanafarm is the one binary of the Sana render farm: local generation (generate,
models, golden), the farm's servers (dev, coordinator, node) and its clients
(submit, status, nodes, cancel, pause, resume, retry, priority, rm, drain,
undrain; gpus lists this machine's GPUs; etcd-auth gives each worker an etcd
user of its own, nats-auth a NATS user; version, or --version, prints the version, the Go version and
the compiled-in backends).

Flags mean the same in every command: -o/--output is the output format of
what a command prints, table (the default) or json; where images go is
--dest. Exit status: 0 success, 1 the operation failed, 2 a usage error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.Version = buildVersion() // --version (version.go)
	root.SetVersionTemplate(versionText())
	root.AddCommand(newGoldenCmd(), newGenerateCmd(), newModelsCmd())
	root.AddCommand(newDevCmd(), newCoordinatorCmd(), newNodeCmd(), newSubmitCmd(), newStatusCmd(), newCancelCmd(), newNodesCmd(), newGPUsCmd())
	root.AddCommand(newPauseCmd(), newResumeCmd(), newRetryCmd(), newPriorityCmd(), newRmCmd(), newDrainCmd(), newUndrainCmd())
	root.AddCommand(newVersionCmd(), newEtcdAuthCmd(), newNATSAuthCmd())
	operationalErrors(root)
	return root
}
