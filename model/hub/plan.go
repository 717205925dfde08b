package hub

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/sanafarm/sanafarm/internal/diskroom"
	"github.com/sanafarm/sanafarm/internal/readcap"
)

// Options choose which files of a repo to fetch.
type Options struct {
	// Variant picks weights such as "bf16" or "fp16"
	// (diffusion_pytorch_model.bf16.safetensors, model.safetensors.index.bf16.json);
	// a component without that variant falls back to its default weights.
	Variant string
	// Components restricts a diffusers repo to these component folders;
	// empty means every component model_index.json names.
	Components []string
	// Concurrency bounds parallel downloads; 0 means 4.
	Concurrency int
	// Files, when set, are the exact repo paths to fetch instead of a
	// pipeline's files (an hf:// URL names one file).
	Files []string
}

// File is one file of a download plan.
type File struct {
	Path   string // repo-relative, slash-separated
	Size   int64  // bytes; -1 when the Hub did not say
	SHA256 string // hex sha256 of LFS files, "" for files stored in git
	Cached bool   // already in the snapshot: nothing to download
}

// plan is a resolved revision and the files a pipeline needs from it.
type plan struct {
	repo, rev, commit string
	rc                repoCache
	listing           map[string]remoteFile
	files             []File
	hold              *diskroom.Hold // the room fetchPlan took for files
}

// modelIndex is the file that marks a diffusers pipeline repo.
const modelIndex = "model_index.json"

// Plan resolves revision (a branch, tag or commit; "" means main) and
// returns the files Download would place in the snapshot, sorted by path.
// To decide, it fetches the small model_index.json and shard index files
// into the cache.
func (c *Client) Plan(ctx context.Context, repo, revision string, opts Options) ([]File, error) {
	p, err := c.plan(ctx, repo, revision, opts)
	if err != nil {
		return nil, err
	}
	return p.files, nil
}

func (c *Client) plan(ctx context.Context, repo, rev string, opts Options) (*plan, error) {
	if rev == "" {
		rev = DefaultRevision
	}
	if err := errors.Join(checkRepo(repo), checkRevision(rev)); err != nil {
		return nil, err
	}
	p := &plan{repo: repo, rev: rev, rc: c.repoCache(repo)}
	if err := c.resolve(ctx, p); err != nil {
		return nil, err
	}
	names, err := c.selectFiles(ctx, p, opts)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		f := File{Path: name, Size: p.listing[name].size, SHA256: p.listing[name].sha256}
		if size, ok := p.rc.hasPointer(p.commit, name); ok && (f.Size < 0 || f.Size == size) {
			f.Cached, f.Size = true, size
		}
		p.files = append(p.files, f)
	}
	return p, nil
}

// resolve finds the commit of p.rev and the repo's file listing: from the
// Hub's API online, from the cache (refs and snapshots) offline or when the
// Hub cannot be reached.
func (c *Client) resolve(ctx context.Context, p *plan) error {
	if c.offline {
		return c.resolveFromCache(p, nil)
	}
	u := fmt.Sprintf("%s/api/models/%s/revision/%s?blobs=true", c.endpoint, p.repo, url.PathEscape(p.rev))
	body, err := c.getBody(ctx, u, 64<<20)
	if err != nil {
		var se *statusError
		if errors.As(err, &se) || ctx.Err() != nil {
			return c.describe(err, p.repo, p.rev, "")
		}
		c.log.Warn("hub unreachable, using the cache", "repo", p.repo, "revision", p.rev, "err", err)
		return c.resolveFromCache(p, c.describe(err, p.repo, p.rev, ""))
	}
	info, err := parseRepoInfo(body)
	if err != nil {
		return fmt.Errorf("repo %s revision %s: %w", p.repo, p.rev, err)
	}
	p.commit, p.listing = info.commit, info.files
	return p.rc.writeRef(p.rev, p.commit)
}

// resolveFromCache answers from the cache alone; netErr, when set, is why
// the Hub was not asked.
func (c *Client) resolveFromCache(p *plan, netErr error) error {
	why := error(ErrOffline)
	if netErr != nil {
		why = netErr
	}
	commit := p.rev
	if !isCommit(commit) {
		ref, err := p.rc.readRef(p.rev)
		if err != nil {
			return err
		}
		if ref == "" {
			return fmt.Errorf("revision %s of repo %s is not in the cache at %s: %w", p.rev, p.repo, c.cacheDir, why)
		}
		commit = ref
	}
	files, err := p.rc.listSnapshot(commit)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("repo %s revision %s (commit %s) has no snapshot in the cache at %s: %w",
			p.repo, p.rev, commit, c.cacheDir, why)
	}
	p.commit, p.listing = commit, make(map[string]remoteFile, len(files))
	for name, size := range files {
		p.listing[name] = remoteFile{size: size}
	}
	return nil
}

// selectFiles picks the files of a pipeline: model_index.json and each
// component folder's files, or the root folder's for a repo without one.
func (c *Client) selectFiles(ctx context.Context, p *plan, opts Options) ([]string, error) {
	if len(opts.Files) > 0 {
		return exactFiles(p, opts.Files)
	}
	folders := []string{""}
	var out []string
	if _, ok := p.listing[modelIndex]; ok {
		data, err := c.readSmall(ctx, p, modelIndex)
		if err != nil {
			return nil, err
		}
		comps, err := parseModelIndex(data)
		if err != nil {
			return nil, fmt.Errorf("repo %s revision %s: %w", p.repo, p.rev, err)
		}
		if folders, err = pickComponents(comps, opts.Components, p); err != nil {
			return nil, err
		}
		out = append(out, modelIndex)
	} else if len(opts.Components) > 0 {
		return nil, fmt.Errorf("repo %s revision %s has no %s, so components %v cannot be chosen", p.repo, p.rev, modelIndex, opts.Components)
	}
	for _, dir := range folders {
		files, err := c.selectFolder(ctx, p, dir, opts.Variant)
		if err != nil {
			return nil, err
		}
		out = append(out, files...)
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

func pickComponents(all, want []string, p *plan) ([]string, error) {
	if len(want) == 0 {
		return all, nil
	}
	for _, w := range want {
		if !slices.Contains(all, w) {
			return nil, fmt.Errorf("repo %s revision %s: component %q is not in %s (it has %v): %w",
				p.repo, p.rev, w, modelIndex, all, ErrNotFound)
		}
	}
	return want, nil
}

// selectFolder picks one folder's configs, tokenizer files and one set of
// weights. dir is "" for the repo root.
func (c *Client) selectFolder(ctx context.Context, p *plan, dir, variant string) ([]string, error) {
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	var names, aux []string
	for full := range p.listing {
		name, ok := strings.CutPrefix(full, prefix)
		if !ok || strings.Contains(name, "/") {
			continue
		}
		names = append(names, name)
		if isAuxFile(name) && !isWeightIndex(name) && full != modelIndex {
			aux = append(aux, full)
		}
	}
	if len(names) == 0 && dir == "" {
		return nil, fmt.Errorf("repo %s at revision %s (commit %s) has neither %s nor files at its top level%s: %w",
			p.repo, p.rev, p.commit, modelIndex, c.offlineNote(), c.missing())
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("component folder %s/ of repo %s at revision %s (commit %s) has no files%s: %w",
			dir, p.repo, p.rev, p.commit, c.offlineNote(), c.missing())
	}
	sort.Strings(names)
	weights, index := chooseWeights(names, variant)
	if weights == "" && (slices.ContainsFunc(names, isWeightFile) || slices.Contains(names, "config.json")) {
		return nil, fmt.Errorf("folder %q of repo %s at revision %s has a model config but no .safetensors or .bin weights to load among %v%s: %w",
			dir, p.repo, p.rev, names, c.offlineNote(), c.missing())
	}
	if variant != "" && weights != "" && !strings.Contains(weights, "."+variant+".") {
		c.log.Info("variant not found, using default weights", "repo", p.repo, "component", dir, "variant", variant, "file", weights)
	}
	if weights != "" && dir != "" && !slices.Contains(names, "config.json") {
		return nil, fmt.Errorf("folder %q of repo %s at revision %s has weights but no config.json%s: %w",
			dir, p.repo, p.rev, c.offlineNote(), c.missing())
	}
	out := aux
	if weights == "" {
		return out, nil
	}
	out = append(out, prefix+weights)
	if !index {
		return out, nil
	}
	shards, err := c.shardsOf(ctx, p, prefix+weights)
	if err != nil {
		return nil, err
	}
	for _, s := range shards {
		out = append(out, prefix+s)
	}
	return out, nil
}

// shardsOf reads a shard index and checks every shard it lists exists.
func (c *Client) shardsOf(ctx context.Context, p *plan, indexFile string) ([]string, error) {
	data, err := c.readSmall(ctx, p, indexFile)
	if err != nil {
		return nil, err
	}
	shards, err := parseShardIndex(data)
	if err != nil {
		return nil, fmt.Errorf("%s of repo %s at revision %s: %w", indexFile, p.repo, p.rev, err)
	}
	dir := path.Dir(indexFile)
	for _, s := range shards {
		if _, ok := p.listing[path.Join(dir, s)]; !ok {
			return nil, fmt.Errorf("shard %s listed by %s is missing from repo %s at revision %s (commit %s)%s: %w",
				path.Join(dir, s), indexFile, p.repo, p.rev, p.commit, c.offlineNote(), c.missing())
		}
	}
	return shards, nil
}

// missing is the error a missing file wraps: ErrNotFound, and ErrOffline
// too when only the cache was asked.
func (c *Client) missing() error {
	if c.offline {
		return fmt.Errorf("%w (%w)", ErrNotFound, ErrOffline)
	}
	return ErrNotFound
}

func (c *Client) offlineNote() string {
	if c.offline {
		return " in the offline cache " + c.cacheDir
	}
	return ""
}

// maxSmallFile bounds the metadata files a plan reads whole
// (model_index.json, a sharded checkpoint's index): real ones are under
// 1 MiB, and the repo is whatever a job names.
const maxSmallFile = 16 << 20

// readSmall returns a small metadata file's contents, downloading it into
// the cache first when needed; one the Hub lists as larger than
// maxSmallFile is refused before it is downloaded.
func (c *Client) readSmall(ctx context.Context, p *plan, file string) ([]byte, error) {
	f := File{Path: file, Size: p.listing[file].size, SHA256: p.listing[file].sha256}
	if f.Size > maxSmallFile {
		return nil, fmt.Errorf("%s of repo %s is %d bytes, more than the %d an index may be", file, p.repo, f.Size, maxSmallFile)
	}
	if err := c.ensureFile(ctx, p, f, nil); err != nil {
		return nil, err
	}
	data, err := readcap.File(p.rc.pointerPath(p.commit, file), maxSmallFile)
	if err != nil {
		return nil, fmt.Errorf("reading %s of repo %s from the cache: %w", file, p.repo, err)
	}
	return data, nil
}

var (
	shardRE   = regexp.MustCompile(`-\d{5}-of-\d{5}$`)
	weightExt = []string{".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".msgpack", ".h5", ".onnx", ".pb", ".gguf", ".onnx_data"}
	auxExt    = []string{".json", ".txt", ".model", ".tiktoken", ".jinja"}
)

func hasAnySuffix(name string, sfx []string) bool {
	return slices.ContainsFunc(sfx, func(s string) bool { return strings.HasSuffix(name, s) })
}

func isWeightFile(name string) bool { return hasAnySuffix(name, weightExt) }

func isAuxFile(name string) bool { return !strings.HasPrefix(name, ".") && hasAnySuffix(name, auxExt) }

func isWeightIndex(name string) bool {
	return strings.HasSuffix(name, ".json") &&
		(strings.Contains(name, ".safetensors.index.") || strings.Contains(name, ".bin.index."))
}

// preferredStems orders single-file weights when a folder has several.
var preferredStems = []string{"diffusion_pytorch_model", "model", "pytorch_model"}

// chooseWeights picks a folder's weights: safetensors before bin, the
// variant before the default, a shard index before a single file. It
// returns the chosen file and whether it is a shard index, or "".
func chooseWeights(names []string, variant string) (string, bool) {
	variants := []string{""}
	if variant != "" {
		variants = []string{variant, ""}
	}
	for _, ext := range []string{"safetensors", "bin"} {
		for _, v := range variants {
			idxSuffix := "." + ext + ".index.json"
			if v != "" {
				idxSuffix = "." + ext + ".index." + v + ".json"
			}
			for _, n := range names {
				if strings.HasSuffix(n, idxSuffix) {
					return n, true
				}
			}
			if n := chooseSingle(names, ext, v); n != "" {
				return n, false
			}
		}
	}
	return "", false
}

func chooseSingle(names []string, ext, variant string) string {
	var cands []string
	for _, n := range names {
		stem, ok := strings.CutSuffix(n, "."+ext)
		if !ok || shardRE.MatchString(stem) {
			continue
		}
		if variant != "" {
			if strings.HasSuffix(stem, "."+variant) {
				cands = append(cands, n)
			}
		} else if !strings.Contains(stem, ".") {
			cands = append(cands, n)
		}
	}
	for _, s := range preferredStems {
		for _, n := range cands {
			if strings.HasPrefix(n, s+".") {
				return n
			}
		}
	}
	if len(cands) > 0 {
		return cands[0]
	}
	return ""
}
