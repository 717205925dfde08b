package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sanafarm/sanafarm/node"
	"github.com/sanafarm/sanafarm/protocol"
)

// gpuList is `sanafarm gpus -o json`.
type gpuList struct {
	GPUs []protocol.GPUInfo `json:"gpus"`
}

func newGPUsCmd() *cobra.Command {
	var (
		output   outputFormat
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "gpus",
		Short: "List this machine's GPUs as a node would announce them (NVML)",
		Long: `gpus samples this machine's NVIDIA GPUs through NVML, as sanafarm node does
every --telemetry-interval: index (the CUDA ordinal), name, UUID, memory
used/total, utilisation, temperature, power, SM clock, throttle reasons and
ECC errors. A machine without the NVIDIA driver, or a binary built without
cgo (make build), lists none. Exit status 1 when NVML fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(cmd.ErrOrStderr(), logLevel)
			if err != nil {
				return err
			}
			return listGPUs(cmd.Context(), node.NewGPUInspector(log), output.json(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	registerOutput(cmd.Flags(), &output)
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

func listGPUs(ctx context.Context, inv node.GPUInspector, asJSON bool, stdout, stderr io.Writer) error {
	gpus, err := inv.GPUs(ctx)
	if err != nil {
		return failed(stderr, fmt.Errorf("reading the GPUs: %w", err))
	}
	if asJSON {
		return writeJSON(stdout, gpuList{GPUs: append([]protocol.GPUInfo{}, gpus...)})
	}
	if len(gpus) == 0 {
		fmt.Fprintln(stdout, "no GPUs")
		return nil
	}
	return writeGPUTable(stdout, []nodeGPUs{{gpus: gpus}})
}

// nodeGPUs are one node's GPUs in a table ("" node: the local machine,
// no NODE column).
type nodeGPUs struct {
	node string
	gpus []protocol.GPUInfo
}

// writeGPUTable prints one row per GPU (sanafarm gpus, sanafarm nodes).
func writeGPUTable(w io.Writer, rows []nodeGPUs) error {
	withNode := len(rows) > 0 && rows[0].node != ""
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "GPU\tNAME\tUUID\tMEMORY\tUTIL\tTEMP\tPOWER\tSM CLOCK\tTHROTTLE\tECC"
	if withNode {
		head = "NODE\t" + head
	}
	fmt.Fprintln(tw, head)
	for _, r := range rows {
		for _, g := range r.gpus {
			if withNode {
				fmt.Fprintf(tw, "%s\t", r.node)
			}
			fmt.Fprintln(tw, gpuRow(g))
		}
	}
	return tw.Flush()
}

// gpuRow formats one GPU; "-" for a reading the GPU did not give (an
// announcement of an earlier release has only name and memory).
func gpuRow(g protocol.GPUInfo) string {
	const gib = 1 << 30
	used := g.MemoryUsed
	if used == 0 {
		used = g.MemoryTotal - min(g.MemoryFree, g.MemoryTotal)
	}
	mem := fmt.Sprintf("%.1f/%.1f GiB", float64(used)/gib, float64(g.MemoryTotal)/gib)
	util, temp, power, clock, ecc := "-", "-", "-", "-", "-"
	if !g.SampledAt.IsZero() {
		util = fmt.Sprintf("%.0f%%", g.Utilization)
	}
	if g.TemperatureC > 0 {
		temp = fmt.Sprintf("%d°C", g.TemperatureC)
	}
	if g.PowerW > 0 {
		power = fmt.Sprintf("%.0f/%.0f W", g.PowerW, g.PowerLimitW)
	}
	if g.SMClockMHz > 0 {
		clock = fmt.Sprintf("%d MHz", g.SMClockMHz)
	}
	if !g.SampledAt.IsZero() {
		ecc = fmt.Sprintf("%d/%d", g.ECCCorrected, g.ECCUncorrected)
	}
	return strings.Join([]string{fmt.Sprint(g.Index), g.Name, dash(g.UUID), mem, util, temp, power, clock,
		dash(strings.Join(g.ThrottleReasons, ",")), ecc}, "\t")
}
