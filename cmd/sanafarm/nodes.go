package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sanafarm/sanafarm/coordinator/api"
)

func newNodesCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List the nodes and the shards leased to them",
		Long: `nodes lists the nodes announced in etcd (live) and nodes that still hold
leases but are gone (not live), with their backend, GPUs, slots, resident
models and leased shards, then one row per GPU with its latest telemetry
(memory used/total, utilisation, temperature, power, SM clock, throttle
reasons, ECC errors corrected/uncorrected). Exit status 1 when the coordinator cannot be read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			return listNodes(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f.register(cmd.Flags())
	return cmd
}

func listNodes(ctx context.Context, f apiFlags, stdout, stderr io.Writer) error {
	nodes, err := f.client().Nodes(ctx)
	if err != nil {
		return failed(stderr, fmt.Errorf("listing nodes: %w", err))
	}
	if f.json() {
		return writeJSON(stdout, api.NodeList{Nodes: nodes})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tBACKEND\tGPUS\tSLOTS\tLEASES\tMODELS\tVERSION")
	for _, n := range nodes {
		state := nodeState(n)
		var gpus []string
		for _, g := range n.Info.GPUs {
			gpus = append(gpus, fmt.Sprintf("%s %.0fG", g.Name, float64(g.MemoryTotal)/(1<<30)))
		}
		var leases []string
		for _, t := range n.Leases {
			leases = append(leases, fmt.Sprintf("%s#%d", t.TaskKey, t.Attempt))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", n.Info.ID, state, n.Info.Compute(), dash(strings.Join(gpus, ",")),
			n.Info.Slots, dash(strings.Join(leases, ",")), dash(strings.Join(n.Info.Models, ",")), n.Info.Version)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range nodes {
		if n.Control != nil && n.Control.Reason != "" {
			fmt.Fprintf(stdout, "%s: %s (sanafarm undrain %s when it is fixed)\n", n.Info.ID, n.Control.Reason, n.Info.ID)
		}
		if n.Live && n.Info.DrainReason != "" {
			fmt.Fprintf(stdout, "%s: drains and restarts: %s\n", n.Info.ID, n.Info.DrainReason)
		}
		if n.Live && n.Info.LeaderUnreachable {
			fmt.Fprintf(stdout, "%s: no leader answers its requests%s although its NATS connection is up (a cut NATS route? docs/deploy.md §8)\n",
				n.Info.ID, unreachableSince(n.Info.LeaderUnreachableSince))
		}
	}
	return writeNodeGPUs(stdout, nodes)
}

// unreachableSince says since when, by the node's clock (" since …"; ""
// when it did not say).
func unreachableSince(unix int64) string {
	if unix <= 0 {
		return ""
	}
	return " since " + time.Unix(unix, 0).UTC().Format(time.RFC3339)
}

// nodeState is a node's STATE column.
func nodeState(n api.NodeStatus) string {
	switch {
	case !n.Live:
		return "gone"
	case n.Control != nil && n.Control.Disable:
		return "disabled"
	case n.Control != nil && n.Control.Auto:
		return "auto-drained" // by the leader: its shards kept failing (reason below the table)
	case n.Info.Draining:
		return "draining"
	case n.Info.LeaderUnreachable:
		return "no-leader" // its requests find no leader (node/reach.go)
	}
	return "live"
}

// writeNodeGPUs prints the GPU table of the nodes that have GPUs (their
// latest telemetry), after a blank line; nothing for a CPU farm.
func writeNodeGPUs(w io.Writer, nodes []api.NodeStatus) error {
	var rows []nodeGPUs
	for _, n := range nodes {
		if len(n.Info.GPUs) > 0 {
			rows = append(rows, nodeGPUs{node: n.Info.ID, gpus: n.Info.GPUs})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	return writeGPUTable(w, rows)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
