package sana

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/sanafarm/sanafarm/model/hub"
	"github.com/sanafarm/sanafarm/model/nvlabs"
	"github.com/sanafarm/sanafarm/model/pth"
)

// NVlabsRefs name an NVlabs model as its users do: the YAML config and
// the checkpoint, each a local path or an hf://<repo>/<path> URL.
type NVlabsRefs struct {
	Config     string
	Checkpoint string
}

// NVlabsProvenance records what an NVlabs-loaded pipeline was built from.
type NVlabsProvenance struct {
	Config           string `json:"config"`
	ConfigSHA256     string `json:"config_sha256"`
	Checkpoint       string `json:"checkpoint"`
	CheckpointSHA256 string `json:"checkpoint_sha256"`
	TextEncoderRepo  string `json:"text_encoder_repo"`
	VAERepo          string `json:"vae_repo"`
}

// Fetcher is the part of *hub.Client OpenNVlabs uses.
type Fetcher interface {
	DownloadURL(ctx context.Context, url string) (string, hub.File, error)
	Download(ctx context.Context, repo, revision string, opts hub.Options) (string, error)
}

// nvlabsFiles are the local files of NVlabsRefs.
type nvlabsFiles struct {
	cfg                 nvlabs.Config
	checkpoint, te, vae string
}

// OpenNVlabs resolves refs (hf:// URLs through the Hub cache; the text
// encoder and VAE repos the config names are downloaded too) and loads
// the pipeline. opts.Origin defaults to the checkpoint reference.
func OpenNVlabs(ctx context.Context, h Fetcher, refs NVlabsRefs, opts Options) (*Pipeline, NVlabsProvenance, error) {
	files, prov, err := resolveNVlabs(ctx, h, refs, opts.Variant)
	if err != nil {
		return nil, NVlabsProvenance{}, err
	}
	ck, err := pth.Open(files.checkpoint)
	if err != nil {
		return nil, NVlabsProvenance{}, err
	}
	mapped, err := nvlabs.Map(ck)
	if err != nil {
		ck.Close()
		return nil, NVlabsProvenance{}, fmt.Errorf("%s: %w", refs.Checkpoint, err)
	}
	if opts.Origin == "" {
		opts.Origin = refs.Checkpoint
	}
	p, err := LoadNVlabs(ctx, NVlabsParts{Config: files.cfg, Checkpoint: mapped,
		TextEncoder: os.DirFS(files.te), VAE: os.DirFS(files.vae)}, opts)
	if err != nil {
		ck.Close()
		return nil, NVlabsProvenance{}, err
	}
	p.closers = append(p.closers, ck.Close)
	return p, prov, nil
}

func resolveNVlabs(ctx context.Context, h Fetcher, refs NVlabsRefs, variant string) (nvlabsFiles, NVlabsProvenance, error) {
	var f nvlabsFiles
	prov := NVlabsProvenance{Config: refs.Config, Checkpoint: refs.Checkpoint}
	if refs.Config == "" || refs.Checkpoint == "" {
		return f, prov, fmt.Errorf("an NVlabs model needs both a config (YAML) and a checkpoint (.pth)")
	}
	cfgPath, _, err := fetchRef(ctx, h, refs.Config)
	if err != nil {
		return f, prov, err
	}
	if f.cfg, err = nvlabs.ReadFile(cfgPath); err != nil {
		return f, prov, err
	}
	prov.ConfigSHA256 = f.cfg.SHA256
	var sum string
	if f.checkpoint, sum, err = fetchRef(ctx, h, refs.Checkpoint); err != nil {
		return f, prov, err
	}
	if sum == "" { // a local file, or a Hub answer without an LFS digest
		if sum, err = fileSHA256(f.checkpoint); err != nil {
			return f, prov, err
		}
	}
	prov.CheckpointSHA256 = sum
	prov.TextEncoderRepo, prov.VAERepo = f.cfg.TextEncoder.Repo, f.cfg.VAE.Repo
	if f.te, err = h.Download(ctx, f.cfg.TextEncoder.Repo, "", hub.Options{Variant: variant}); err != nil {
		return f, prov, fmt.Errorf("text encoder %s (text_encoder.text_encoder_name %s): %w", f.cfg.TextEncoder.Repo, f.cfg.TextEncoder.Name, err)
	}
	if f.vae, err = h.Download(ctx, f.cfg.VAE.Repo, "", hub.Options{Variant: variant}); err != nil {
		return f, prov, fmt.Errorf("VAE %s (vae.vae_pretrained %s): %w", f.cfg.VAE.Repo, f.cfg.VAE.Pretrained, err)
	}
	return f, prov, nil
}

// fetchRef returns the local path of a path or hf:// URL and, for a Hub
// file, its LFS sha256 ("" when unknown).
func fetchRef(ctx context.Context, h Fetcher, ref string) (string, string, error) {
	if nvlabs.IsBuiltin(ref) { // an NVlabs preset's config, embedded (docs/nvlabs.md)
		p, err := nvlabs.BuiltinFile(ref)
		return p, "", err
	}
	if !hub.IsURL(ref) {
		if _, err := os.Stat(ref); err != nil {
			return "", "", err
		}
		return ref, "", nil
	}
	if h == nil {
		return "", "", fmt.Errorf("%s: no Hub client to fetch it with", ref)
	}
	local, file, err := h.DownloadURL(ctx, ref)
	if err != nil {
		return "", "", fmt.Errorf("fetching %s: %w", ref, err)
	}
	return local, file.SHA256, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
