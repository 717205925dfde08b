package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sanafarm/sanafarm/model/hub"
	"github.com/sanafarm/sanafarm/model/sana"
)

func newModelsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List and download the model presets",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the presets with their repo, default size and steps, and whether they are cached",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return listModels(cmd.Context(), cmd.OutOrStdout())
		},
	})
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
	return cmd
}

func listModels(ctx context.Context, w io.Writer) error {
	offline, err := hub.New(offlineConfig())
	if err != nil {
		return fmt.Errorf("opening the Hugging Face cache: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PRESET\tREPO\tSIZE\tSTEPS\tGUIDANCE\tVARIANT\tCACHED")
	for _, p := range sana.Presets() {
		repo, variant := p.Repo, p.Variant
		if repo == "" {
			repo = "(built in)"
		}
		if variant == "" {
			variant = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%g\t%s\t%s\n", p.Name, repo, p.Size, p.Steps, p.Guidance, variant, yesNo(cached(ctx, offline, p)))
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
	if p.Repo == "" {
		dir, err := tinyDir()
		return err == nil && tinyComplete(dir)
	}
	_, err := offline.Download(ctx, p.Repo, p.Revision, hub.Options{Variant: p.Variant})
	return err == nil
}

// tinyDir is where sana-tiny is written: $SANAFARM_CACHE or the user cache
// directory, under sanafarm/sana-tiny-v1 (bump the suffix when the tiny
// model changes).
func tinyDir() (string, error) {
	root := os.Getenv("SANAFARM_CACHE")
	if root == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("finding a cache directory for sana-tiny (set SANAFARM_CACHE): %w", err)
		}
		root = filepath.Join(c, "sanafarm")
	}
	return filepath.Join(root, "sana-tiny-v1"), nil
}

func tinyComplete(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "model_index.json"))
	return err == nil
}

// ensureTiny writes sana-tiny once (into a temporary sibling, then renamed,
// so a crash never leaves a half-written model behind).
func ensureTiny() (string, error) {
	dir, err := tinyDir()
	if err != nil {
		return "", err
	}
	if tinyComplete(dir) {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("writing sana-tiny: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".sana-tiny-*")
	if err != nil {
		return "", fmt.Errorf("writing sana-tiny: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := sana.WriteTinyPipeline(tmp, sana.TinyOptions{}); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil && !tinyComplete(dir) {
		return "", fmt.Errorf("writing sana-tiny: %w", err)
	}
	return dir, nil
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
