package weights

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/sanafarm/sanafarm/kernels"
)

// Checkpoint is a set of tensors spread over one or more safetensors files
// (a sharded checkpoint lists its shards in a *.safetensors.index.json).
type Checkpoint struct {
	files []*File
	where map[string]*File
}

// indexFile is the JSON of a sharded checkpoint's index.
type indexFile struct {
	WeightMap map[string]string `json:"weight_map"`
}

// OpenCheckpoint opens name in fsys: either a single .safetensors file or a
// sharded checkpoint's .json index, whose shards are opened relative to it.
func OpenCheckpoint(fsys fs.FS, name string) (*Checkpoint, error) {
	if !strings.HasSuffix(name, ".json") {
		f, err := Open(fsys, name)
		if err != nil {
			return nil, err
		}
		return newCheckpoint([]*File{f})
	}
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint index: %w", err)
	}
	var idx indexFile
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("checkpoint index %s: %w", name, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("checkpoint index %s: empty weight_map", name)
	}
	return openShards(fsys, name, idx)
}

func openShards(fsys fs.FS, name string, idx indexFile) (*Checkpoint, error) {
	var shards []string
	for _, s := range idx.WeightMap {
		if !slices.Contains(shards, s) {
			shards = append(shards, s)
		}
	}
	sort.Strings(shards)
	var files []*File
	for _, s := range shards {
		f, err := Open(fsys, path.Join(path.Dir(name), s))
		if err != nil {
			closeAll(files)
			return nil, fmt.Errorf("checkpoint index %s: %w", name, err)
		}
		files = append(files, f)
	}
	c, err := newCheckpoint(files)
	if err != nil {
		return nil, err
	}
	// The index must agree with the shards' own headers.
	for tensor, shard := range idx.WeightMap {
		f, ok := c.where[tensor]
		if !ok || path.Base(f.Name()) != path.Base(shard) {
			c.Close()
			return nil, fmt.Errorf("checkpoint index %s: tensor %q is listed in %s but not found there", name, tensor, shard)
		}
	}
	return c, nil
}

func newCheckpoint(files []*File) (*Checkpoint, error) {
	c := &Checkpoint{files: files, where: map[string]*File{}}
	for _, f := range files {
		for n := range f.Header.Tensors {
			if prev, dup := c.where[n]; dup {
				closeAll(files)
				return nil, fmt.Errorf("tensor %q appears in both %s and %s", n, prev.Name(), f.Name())
			}
			c.where[n] = f
		}
	}
	return c, nil
}

func closeAll(files []*File) {
	for _, f := range files {
		f.Close()
	}
}

// Close closes every shard.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, f := range c.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// Names returns every tensor name, sorted.
func (c *Checkpoint) Names() []string {
	names := make([]string, 0, len(c.where))
	for n := range c.where {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Info returns a tensor's header entry.
func (c *Checkpoint) Info(name string) (Info, bool) {
	f, ok := c.where[name]
	if !ok {
		return Info{}, false
	}
	return f.Info(name)
}

// Tensor reads a tensor in its stored dtype.
func (c *Checkpoint) Tensor(name string) (*kernels.Tensor, error) {
	f, ok := c.where[name]
	if !ok {
		return nil, fmt.Errorf("checkpoint has no tensor %q", name)
	}
	return f.Tensor(name)
}

// FindCheckpoint locates the weights of a diffusers component folder dir:
// prefix is "diffusion_pytorch_model" or "model", variant "" or e.g.
// "bf16". It prefers a single file and falls back to a sharded index.
func FindCheckpoint(fsys fs.FS, dir, prefix, variant string) (string, error) {
	v := ""
	if variant != "" {
		v = "." + variant
	}
	candidates := []string{
		prefix + v + ".safetensors",
		prefix + ".safetensors.index" + v + ".json",
		prefix + v + ".safetensors.index.json",
	}
	for _, c := range candidates {
		p := path.Join(dir, c)
		if _, err := fs.Stat(fsys, p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no weights in %s: looked for %s", dir, strings.Join(candidates, ", "))
}
