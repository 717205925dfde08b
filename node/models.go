package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sanafarm/sanafarm/internal/diskroom"
	"github.com/sanafarm/sanafarm/model/hub"
	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/protocol"
	"github.com/sanafarm/sanafarm/storage"
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
	// Mirror is the URL of a model mirror (s3://bucket/models, filled by
	// `sanafarm models push`; file:// works too). When set, a model not in
	// the local cache is downloaded from the mirror (sizes and SHA-256
	// checked) into <cache root>/mirror/<repo>/<revision> (sana-tiny: its
	// usual folder) before the Hub or the local sana-tiny writer is tried;
	// a mirror without the model falls back to them, a broken one is an
	// error.
	Mirror string
	// OpenMirror opens Mirror (default storage.Open, S3 settings from the
	// environment).
	OpenMirror func(ctx context.Context, url string) (storage.Store, error)
	// MaxDownloadBytes bounds what one model download from the Hub or the
	// mirror fetches (0: hub.DefaultMaxDownloadBytes, negative: no bound);
	// either must also leave diskroom.Reserve free on the cache's disk.
	MaxDownloadBytes int64

	mu   sync.Mutex      // one sana-tiny writer per process
	room diskroom.Ledger // shared by its downloads (Hub and mirror)
}

// Model is a resolved model.
type Model struct {
	Name     string // as the job names it
	Dir      string // local pipeline folder
	Preset   protocol.Preset
	IsPreset bool
	Variant  string // weights variant to load
	Origin   string // recorded in provenance ("sana-tiny", "name (repo@rev)")
	// NVlabs is set for a model loaded from an NVlabs config and
	// checkpoint (JobSpec.Config/Checkpoint), which has no folder.
	NVlabs *sana.NVlabsProvenance
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
			dir, err := r.resolveTiny(ctx, p)
			m.Dir = dir
			return m, err
		}
		repo, rev = p.Repo, pick(spec.Revision, p.Revision)
		m.Origin = fmt.Sprintf("%s (%s@%s)", p.Name, p.Repo, rev)
	} else {
		rev = pick(rev, "main")
		m.Origin = repo + "@" + rev
	}
	dir, err := r.resolveRepo(ctx, repo, rev, m.Variant)
	m.Dir = dir
	return m, err
}

// resolveTiny: the local sana-tiny, else the mirror's, else written here.
func (r *ModelResolver) resolveTiny(ctx context.Context, p protocol.Preset) (string, error) {
	dir, err := r.TinyDir()
	if err != nil || sana.TinyComplete(dir) || r.Mirror == "" {
		return r.ensureTiny()
	}
	name, rev := MirrorName(p)
	err = r.fromMirror(ctx, name, rev, dir)
	if err == nil || !isMirrorMiss(err) {
		return dir, err
	}
	return r.ensureTiny()
}

// resolveRepo: the Hugging Face cache, else the mirror, else the Hub.
func (r *ModelResolver) resolveRepo(ctx context.Context, repo, rev, variant string) (string, error) {
	if r.Mirror == "" {
		return r.download(ctx, repo, rev, variant, false)
	}
	if dir, err := r.download(ctx, repo, rev, variant, true); err == nil {
		return dir, nil
	}
	// The revision comes from the job (the API only bounds it to printable
	// text): one with "../" or an absolute path would lead the join out of
	// the mirror folder, to any folder with a mirror manifest. The mirror's
	// own key check (mirrorPrefix) refuses it before the join.
	if _, err := mirrorPrefix(repo, rev); err != nil {
		return "", err
	}
	root, err := r.cacheRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "mirror", filepath.FromSlash(repo), rev)
	if mirrorComplete(dir) {
		return dir, nil
	}
	err = r.fromMirror(ctx, repo, rev, dir)
	if err == nil || !isMirrorMiss(err) {
		return dir, err
	}
	return r.download(ctx, repo, rev, variant, false)
}

// fromMirror downloads name@rev from the mirror into dir.
func (r *ModelResolver) fromMirror(ctx context.Context, name, rev, dir string) error {
	open := r.OpenMirror
	if open == nil {
		open = storage.Open
	}
	store, err := open(ctx, r.Mirror)
	if err != nil {
		return fmt.Errorf("opening model mirror %s: %w", r.Mirror, err)
	}
	defer store.Close()
	limit := r.MaxDownloadBytes
	if limit == 0 {
		limit = hub.DefaultMaxDownloadBytes
	}
	if _, err := FetchModel(ctx, store, name, rev, dir, limit, &r.room); err != nil {
		return fmt.Errorf("model mirror %s: %w", r.Mirror, err)
	}
	return nil
}

// hubConfig is the Hub configuration every download of this node uses.
func (r *ModelResolver) hubConfig() hub.Config {
	cfg := hub.ConfigFromEnv()
	if r.Hub != nil {
		cfg = *r.Hub
	}
	if cfg.MaxDownloadBytes == 0 {
		cfg.MaxDownloadBytes = r.MaxDownloadBytes
	}
	if cfg.Room == nil {
		cfg.Room = &r.room
	}
	return cfg
}

func (r *ModelResolver) download(ctx context.Context, repo, rev, variant string, offline bool) (string, error) {
	cfg := r.hubConfig()
	cfg.Offline = cfg.Offline || offline
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
	root, err := r.cacheRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, TinyDirName), nil
}

// cacheRoot is CacheRoot, $SANAFARM_CACHE or the user cache dir + /sanafarm.
func (r *ModelResolver) cacheRoot() (string, error) {
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
	return root, nil
}

// ensureTiny writes sana-tiny once, into a temporary sibling renamed into
// place, so a crash never leaves a half-written model.
func (r *ModelResolver) ensureTiny() (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dir, err := r.TinyDir()
	if err != nil {
		return "", err
	}
	return dir, sana.EnsureTinyPipeline(dir)
}

func pick(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
