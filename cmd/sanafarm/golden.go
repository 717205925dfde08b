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
	var tok string
	var be backendOptions
	cmd := &cobra.Command{
		Use:   "golden DIR...",
		Short: "Check our implementation against reference case folders (golden format)",
		Long: `golden runs each case folder through sanafarm and compares with the reference outputs.

A case folder holds inputs.safetensors, outputs.safetensors and one of:
  model_index.json       a pipeline: the denoising loop, then the VAE decode when vae/ is
                         present (final_latent, decoded and image_pt are compared)
  config.json            a module named by _class_name / model_type: SanaTransformer2DModel,
                         AutoencoderDC, gemma2 (Gemma2Model)
  scheduler_config.json  a scheduler (DPMSolverMultistepScheduler, FlowMatchEulerDiscreteScheduler)
  tokens.json            the Gemma tokenizer and Sana prompt handling (needs the real
                         tokenizer.json: --tokenizer, $SANAFARM_GEMMA_TOKENIZER, or the cache
                         filled by scripts/fetch-testdata.sh)
or only seed<S>_<shape> tensors in outputs.safetensors: the torch-compatible randn.

It prints one line per case, "PASS|FAIL <case> max_abs=<x> tol=<t>", and exits 1 if
any case fails or is of an unknown kind. --precision bf16 checks the production mode
instead: transformer and pipeline_loop cases at their bf16 tolerances, the others as
"SKIP <case>: <why>" lines (f32-only).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			backend, closeBackend, err := newBackend(be)
			if err != nil {
				return err
			}
			defer closeBackend()
			r := &golden.Runner{Backend: backend, Tol: tol, Tokenizer: tok}
			failed := false
			for _, dir := range args {
				if st, err := os.Stat(dir); err != nil || !st.IsDir() {
					why := "a file"
					if err != nil {
						why = err.Error()
					}
					fmt.Fprintf(cmd.OutOrStdout(), "FAIL %s error: not a case folder (%s)\n", dir, why)
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
	cmd.Flags().StringVar(&tok, "tokenizer", "", "Gemma tokenizer.json for tokens.json cases (default: "+golden.GemmaTokenizerPath()+")")
	cmd.Flags().IntVar(&be.threads, "threads", 0, "CPU threads (default: all)")
	cmd.Flags().StringVar(&be.name, "backend", "cpu", "compute backend: cpu, or cuda in binaries built with make build-cuda")
	cmd.Flags().IntVar(&be.device, "device", 0, "CUDA device ordinal (with --backend cuda)")
	// f32 by default even on cuda: golden checks conformance, and the
	// float32 tolerances are the tight ones (bf16 mode: model/golden/bf16.go).
	cmd.Flags().StringVar(&be.precision, "precision", "f32", "matrix-product precision: f32, bf16, or auto (bf16 on cuda, f32 on cpu)")
	be.registerGraphs(cmd.Flags())
	return cmd
}
