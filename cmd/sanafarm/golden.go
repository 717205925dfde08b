package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sanafarm/sanafarm/model/golden"
)

func newGoldenCmd() *cobra.Command {
	var tol float64
	var be backendOptions
	cmd := &cobra.Command{
		Use:   "golden DIR...",
		Short: "Check our implementation against reference case folders (golden format)",
		Long: `golden runs each case folder through sanafarm and compares with the reference outputs.

A case folder holds inputs.safetensors, outputs.safetensors and one of:
  model_index.json       a pipeline (denoising loop; final_latent is compared)
  config.json            a module named by _class_name (SanaTransformer2DModel)
  scheduler_config.json  a scheduler (DPMSolverMultistepScheduler, FlowMatchEulerDiscreteScheduler)

It prints one line per case, "PASS|FAIL <case> max_abs=<x> tol=<t>", and exits 1 if
any case fails or is of an unknown kind.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			backend, closeBackend, err := newBackend(be)
			if err != nil {
				return err
			}
			defer closeBackend()
			r := &golden.Runner{Backend: backend, Tol: tol}
			failed := false
			for _, dir := range args {
				if st, err := os.Stat(dir); err != nil || !st.IsDir() {
					fmt.Fprintf(cmd.OutOrStdout(), "FAIL %s error: not a case folder\n", dir)
					failed = true
					continue
				}
				for _, res := range r.Run(cmd.Context(), os.DirFS(dir), filepath.Base(filepath.Clean(dir))) {
					fmt.Fprintln(cmd.OutOrStdout(), res)
					failed = failed || !res.Pass()
				}
			}
			if failed {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().Float64Var(&tol, "tol", 0, "max-abs tolerance for every case (default: per module, from the golden READMEs)")
	cmd.Flags().IntVar(&be.threads, "threads", 0, "CPU threads (default: all)")
	cmd.Flags().StringVar(&be.name, "backend", "cpu", "compute backend: cpu, or cuda in binaries built with make build-cuda")
	cmd.Flags().IntVar(&be.device, "device", 0, "CUDA device ordinal (with --backend cuda)")
	return cmd
}
