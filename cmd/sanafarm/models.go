package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sanafarm/sanafarm/model/hub"
	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/node"
	"github.com/sanafarm/sanafarm/storage"
)

func newModelsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List and download the model presets",
		Args:  cobra.ArbitraryArgs,
		// A group: without a subcommand it shows its help; an unknown one
		// is a usage error (cobra reports that only for the root).
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	var output outputFormat
	list := &cobra.Command{
		Use:   "list",
		Short: "List the presets with their repo, default size and steps, and whether they are cached",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return listModels(cmd.Context(), output, cmd.OutOrStdout())
		},
	}
	registerOutput(list.Flags(), &output)
	cmd.AddCommand(list)
	cmd.AddCommand(&cobra.Command{
		Use:   "pull PRESET",
		Short: "Download a preset's weights into the Hugging Face cache (sana-tiny: write it locally)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := resolveModel(cmd.Context(), args[0], "", cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), dir)
			return nil
		},
	})
	cmd.AddCommand(newModelsPushCmd())
	return cmd
}

func newModelsPushCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "push PRESET URL",
		Short: "Upload a preset's pipeline folder to a model mirror (s3://bucket/models) for nodes without internet",
		Long: `push uploads the Hugging Face cache snapshot of PRESET (downloading it first if
needed; sana-tiny: its local folder) to URL/<repo-or-preset>/<revision>/, then a
manifest (sanafarm-mirror.json) with every file's size and SHA-256. Files the
mirror already holds with the same SHA-256 are skipped. Nodes started with
--model-mirror URL download models from there (and verify them) before trying
the Hugging Face Hub.

S3 settings come from the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_REGION, AWS_ENDPOINT_URL (or S3_ENDPOINT), SANAFARM_S3_LOOKUP=path|virtual.

Example:
  S3_ENDPOINT=https://nyc3.digitaloceanspaces.com sanafarm models push sana-600m-512 s3://farm/models`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return pushModel(cmd.Context(), args[0], args[1], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
}

func pushModel(ctx context.Context, preset, url string, stdout, stderr io.Writer) error {
	p, err := sana.LookupPreset(preset)
	if err != nil {
		return err
	}
	dir, err := resolveModel(ctx, preset, "", stderr)
	if err != nil {
		return err
	}
	store, err := storage.Open(ctx, url)
	if err != nil {
		return err
	}
	defer store.Close()
	name, rev := node.MirrorName(p)
	var sent, skipped int64
	m, err := node.PushModel(ctx, store, dir, name, rev, func(f node.MirrorFile, skip bool) {
		if skip {
			skipped += f.Size
		} else {
			sent += f.Size
		}
		fmt.Fprintf(stderr, "%s %s (%d bytes)\n", map[bool]string{true: "unchanged", false: "uploaded "}[skip], f.Path, f.Size)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s/%s/%s: %d files, %d bytes uploaded, %d unchanged\n",
		strings.TrimSuffix(url, "/"), name, rev, len(m.Files), sent, skipped)
	n, err := node.AbortModelUploads(ctx, store, name, rev)
	if n > 0 {
		fmt.Fprintf(stderr, "aborted %d upload(s) an interrupted push had left open\n", n)
	}
	return err
}

// modelList is `sanafarm models list -o json`.
type modelList struct {
	Models []modelInfo `json:"models"`
}

// modelInfo is one preset of modelList (repo "" for a built-in model).
type modelInfo struct {
	Name     string  `json:"name"`
	Repo     string  `json:"repo,omitempty"`
	Revision string  `json:"revision,omitempty"`
	Size     int     `json:"size"`
	Steps    int     `json:"steps"`
	Guidance float64 `json:"guidance"`
	Variant  string  `json:"variant,omitempty"`
	Cached   bool    `json:"cached"`
}

func listModels(ctx context.Context, output outputFormat, w io.Writer) error {
	offline, err := hub.New(offlineConfig())
	if err != nil {
		return fmt.Errorf("opening the Hugging Face cache: %w", err)
	}
	var list modelList
	for _, p := range sana.Presets() {
		list.Models = append(list.Models, modelInfo{Name: p.Name, Repo: p.Repo, Revision: p.Revision, Size: p.Size,
			Steps: p.Steps, Guidance: p.Guidance, Variant: p.Variant, Cached: cached(ctx, offline, p)})
	}
	if output.json() {
		return writeJSON(w, list)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PRESET\tREPO\tSIZE\tSTEPS\tGUIDANCE\tVARIANT\tCACHED")
	for _, m := range list.Models {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%g\t%s\t%s\n", m.Name, firstOf(m.Repo, "(built in)"), m.Size, m.Steps, m.Guidance,
			dash(m.Variant), yesNo(m.Cached))
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func offlineConfig() hub.Config {
	c := hub.ConfigFromEnv()
	c.Offline = true
	return c
}

// cached reports whether every file a preset needs is already local.
func cached(ctx context.Context, offline *hub.Client, p sana.Preset) bool {
	if p.NVlabs() { // the .pth; the text encoder and VAE are fetched at load
		_, _, err := offline.DownloadURL(ctx, p.Checkpoint)
		return err == nil
	}
	if p.Repo == "" {
		dir, err := tinyDir()
		return err == nil && sana.TinyComplete(dir)
	}
	_, err := offline.Download(ctx, p.Repo, p.Revision, hub.Options{Variant: p.Variant})
	return err == nil
}

// tinyDir is where sana-tiny is written: $SANAFARM_CACHE or the user cache
// directory, under sanafarm/sana-tiny-v1 (bump the suffix when the tiny
// model changes).
// tinyDir is where sana-tiny lives: the node's model cache
// ($SANAFARM_CACHE or the user cache dir), shared with `sanafarm node`.
func tinyDir() (string, error) { return (&node.ModelResolver{}).TinyDir() }

// ensureTiny writes sana-tiny once (sana.EnsureTinyPipeline).
func ensureTiny() (string, error) {
	dir, err := tinyDir()
	if err != nil {
		return "", err
	}
	return dir, sana.EnsureTinyPipeline(dir)
}

// resolveModel turns --model (a preset name or a pipeline folder) into a
// local folder, downloading a preset's repo (with a progress bar on
// progress) when needed. variant "" means the preset's recommendation.
func resolveModel(ctx context.Context, model, variant string, progress io.Writer) (string, error) {
	if st, err := os.Stat(model); err == nil && st.IsDir() {
		return model, nil
	}
	p, err := sana.LookupPreset(model)
	if err != nil {
		return "", fmt.Errorf("%w; or pass a diffusers pipeline folder", err)
	}
	if p.Repo == "" {
		return ensureTiny()
	}
	if p.NVlabs() { // no diffusers folder: generate and jobs load its config and .pth (docs/nvlabs.md)
		return "", fmt.Errorf("model %s is an NVlabs preset (config %s, checkpoint %s), not a diffusers pipeline folder; use it with generate --model or in a job", p.Name, p.Config, p.Checkpoint)
	}
	if variant == "" {
		variant = p.Variant
	}
	cfg := hub.ConfigFromEnv()
	cfg.Progress = hub.NewBar(progress)
	c, err := hub.New(cfg)
	if err != nil {
		return "", fmt.Errorf("opening the Hugging Face cache: %w", err)
	}
	dir, err := c.Download(ctx, p.Repo, p.Revision, hub.Options{Variant: variant})
	if errors.Is(err, hub.ErrOffline) {
		return "", fmt.Errorf("model %s is not cached and HF_HUB_OFFLINE is set: %w", p.Name, err)
	}
	if err != nil {
		return "", fmt.Errorf("downloading %s (%s): %w", p.Name, p.Repo, err)
	}
	return dir, nil
}
