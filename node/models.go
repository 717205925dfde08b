package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sanafarm/sanafarm/model/hub"
	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/protocol"
)

// TinyDirName is sana-tiny's folder under the cache root (the same as
// `sanafarm generate` uses; bump it when the tiny model changes).
const TinyDirName = "sana-tiny-v1"

// ModelResolver turns a job's model (a preset name or a Hugging Face repo
// id) into a local diffusers pipeline folder: sana-tiny is written once
// into the cache root (as `sanafarm generate` does), presets and repos are
// downloaded into the Hugging Face cache through model/hub.
type ModelResolver struct {
	// CacheRoot holds sana-tiny (default $SANAFARM_CACHE, else the user
	// cache directory + "/sanafarm").
	CacheRoot string
	// Hub configures downloads (default hub.ConfigFromEnv()).
	Hub *hub.Config

	mu sync.Mutex // one sana-tiny writer per process
}

// Model is a resolved model.
type Model struct {
	Name     string // as the job names it
	Dir      string // local pipeline folder
	Preset   protocol.Preset
	IsPreset bool
	Variant  string // weights variant to load
	Origin   string // recorded in provenance ("sana-tiny", "name (repo@rev)")
}

// Resolve finds (downloading or writing if needed) the spec's model.
func (r *ModelResolver) Resolve(ctx context.Context, spec protocol.JobSpec) (Model, error) {
	m := Model{Name: spec.Model, Variant: spec.Variant}
	repo, rev := spec.Model, spec.Revision
	if !strings.Contains(spec.Model, "/") {
		p, err := protocol.LookupPreset(spec.Model)
		if err != nil {
			return m, err
		}
		m.Preset, m.IsPreset = p, true
		m.Variant = pick(spec.Variant, p.Variant)
		if p.Repo == "" {
			m.Origin = p.Name
			dir, err := r.ensureTiny()
			m.Dir = dir
			return m, err
		}
		repo, rev = p.Repo, pick(spec.Revision, p.Revision)
		m.Origin = fmt.Sprintf("%s (%s@%s)", p.Name, p.Repo, rev)
	} else {
		rev = pick(rev, "main")
		m.Origin = repo + "@" + rev
	}
	dir, err := r.download(ctx, repo, rev, m.Variant)
	m.Dir = dir
	return m, err
}

func (r *ModelResolver) download(ctx context.Context, repo, rev, variant string) (string, error) {
	cfg := hub.ConfigFromEnv()
	if r.Hub != nil {
		cfg = *r.Hub
	}
	c, err := hub.New(cfg)
	if err != nil {
		return "", fmt.Errorf("opening the Hugging Face cache: %w", err)
	}
	dir, err := c.Download(ctx, repo, rev, hub.Options{Variant: variant})
	if errors.Is(err, hub.ErrOffline) {
		return "", fmt.Errorf("model %s is not cached and the node is offline: %w", repo, err)
	}
	if err != nil {
		return "", fmt.Errorf("downloading %s@%s: %w", repo, rev, err)
	}
	return dir, nil
}

// TinyDir is where sana-tiny lives.
func (r *ModelResolver) TinyDir() (string, error) {
	root := r.CacheRoot
	if root == "" {
		root = os.Getenv("SANAFARM_CACHE")
	}
	if root == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("finding a cache directory for sana-tiny (set SANAFARM_CACHE): %w", err)
		}
		root = filepath.Join(c, "sanafarm")
	}
	return filepath.Join(root, TinyDirName), nil
}

func tinyComplete(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "model_index.json"))
	return err == nil
}

// ensureTiny writes sana-tiny once, into a temporary sibling renamed into
// place, so a crash never leaves a half-written model.
func (r *ModelResolver) ensureTiny() (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dir, err := r.TinyDir()
	if err != nil || tinyComplete(dir) {
		return dir, err
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

func pick(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
