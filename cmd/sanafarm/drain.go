package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sanafarm/sanafarm/coordinator/api"
	"github.com/sanafarm/sanafarm/coordinator/client"
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
			cl := f.client()
			ns, err := cl.Drain(cmd.Context(), args[0], disable)
			if err != nil {
				return failed(cmd.ErrOrStderr(), fmt.Errorf("draining node %q: %w", args[0], err))
			}
			noteUnseen(cmd.Context(), cl, cmd.ErrOrStderr(), ns, "drain")
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
			cl := f.client()
			ns, err := cl.Undrain(cmd.Context(), args[0])
			if err != nil {
				return failed(cmd.ErrOrStderr(), fmt.Errorf("undraining node %q: %w", args[0], err))
			}
			noteUnseen(cmd.Context(), cl, cmd.ErrOrStderr(), ns, "undrain")
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

// maxKnownNodes bounds the node ids a note about an unknown node lists.
const maxKnownNodes = 10

// noteUnseen warns on stderr when the coordinator knows no node of the id
// a drain or undrain named (none announced, none holding shards): the
// coordinator records the change anyway, so that a drain holds for a node
// that joins later (docs/architecture.md, "Job and node control"), and
// a mistyped id would otherwise pass silently. The note lists the known
// node ids, at most maxKnownNodes of them.
func noteUnseen(ctx context.Context, cl *client.Client, stderr io.Writer, ns api.NodeStatus, verb string) {
	if ns.Live || len(ns.Leases) > 0 {
		return
	}
	fmt.Fprintf(stderr, "note: the coordinator knows no node %q at present (none announced, none holding shards); "+
		"the %s is recorded and applies if a node of that id joins. %s\n", ns.Info.ID, verb, knownNodes(ctx, cl, ns.Info.ID))
}

// knownNodes names the node ids the coordinator knows (live or holding
// shards; the node list also shows drains set for unknown ids), or says
// there are none, pointing at sanafarm nodes.
func knownNodes(ctx context.Context, cl *client.Client, id string) string {
	nodes, err := cl.Nodes(ctx)
	if err != nil {
		return "See sanafarm nodes for the known ones."
	}
	var ids []string
	for _, n := range nodes {
		if n.Info.ID != id && (n.Live || len(n.Leases) > 0) {
			ids = append(ids, n.Info.ID)
		}
	}
	if len(ids) == 0 {
		return "No node is known yet (sanafarm nodes)."
	}
	slices.Sort(ids)
	more := ""
	if len(ids) > maxKnownNodes {
		more = fmt.Sprintf(" and %d more", len(ids)-maxKnownNodes)
		ids = ids[:maxKnownNodes]
	}
	return fmt.Sprintf("Known nodes: %s%s (sanafarm nodes).", strings.Join(ids, ", "), more)
}
