package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sanafarm/sanafarm/coordinator/api"
)

// Node control commands: drain (and --disable) and undrain
// (docs/architecture.md, "Job and node control").

func newDrainCmd() *cobra.Command {
	var f apiFlags
	var disable bool
	cmd := &cobra.Command{
		Use:   "drain NODE",
		Short: "Stop handing shards to a node",
		Long: `drain stops handing new shards to the node; the shards it runs finish. With
--disable its shards are also handed back to the queue at once (its late
reports are refused), for a node producing bad output. The state is kept by
the coordinators (a leader change keeps it) and holds for a node that is not
running yet; undrain undoes it.` + nodeControlExit,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			ns, err := f.client().Drain(cmd.Context(), args[0], disable)
			if err != nil {
				return failed(cmd.ErrOrStderr(), fmt.Errorf("draining node %q: %w", args[0], err))
			}
			return printNode(cmd, f, ns)
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().BoolVar(&disable, "disable", false, "also hand the node's running shards back to the queue")
	return cmd
}

func newUndrainCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "undrain NODE",
		Short: "Hand shards to a drained or disabled node again",
		Long:  `undrain makes a drained or disabled node take new shards again.` + nodeControlExit,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			ns, err := f.client().Undrain(cmd.Context(), args[0])
			if err != nil {
				return failed(cmd.ErrOrStderr(), fmt.Errorf("undraining node %q: %w", args[0], err))
			}
			return printNode(cmd, f, ns)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

func printNode(cmd *cobra.Command, f apiFlags, ns api.NodeStatus) error {
	if f.json() {
		return writeJSON(cmd.OutOrStdout(), ns)
	}
	state := "schedulable"
	switch {
	case ns.Control != nil && ns.Control.Disable:
		state = "disabled"
	case ns.Control != nil:
		state = "draining"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "node %s %s (%d shards leased)\n", ns.Info.ID, state, len(ns.Leases))
	return nil
}
