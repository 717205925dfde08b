package node

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sanafarm/sanafarm/model/sana"
	"github.com/sanafarm/sanafarm/protocol"
)

// resident is a loaded pipeline. gen serializes its Generate calls (a
// backend need not allow concurrent use).
type resident struct {
	key      string
	variant  string // protocol.JobSpec.VariantKey, as the node announces it
	model    Model
	p        *sana.Pipeline
	loadTime time.Duration
	gen      sync.Mutex
	refs     int
}

// pipelineCache keeps up to size pipelines loaded, least recently used
// evicted first (only when no task is using it).
type pipelineCache struct {
	size int
	load func(context.Context, protocol.JobSpec, *jobInputs) (*resident, error)

	mu      sync.Mutex
	entries []*resident // most recently used first
	loading sync.Mutex  // one load at a time (memory)
}

func newPipelineCache(size int, load func(context.Context, protocol.JobSpec, *jobInputs) (*resident, error)) *pipelineCache {
	return &pipelineCache{size: size, load: load}
}

// cacheKey names the weights a spec needs.
func cacheKey(s protocol.JobSpec) string { return s.Model + "@" + s.Revision + "#" + s.Variant }

// acquire returns the spec's pipeline with its inputs' LoRAs fused,
// locked for generation, loading it if needed (loaded reports that);
// release it with release. Each fused LoRA set is its own entry, so a
// node serving several LoRA jobs of one model keeps them all resident.
func (c *pipelineCache) acquire(ctx context.Context, spec protocol.JobSpec, in *jobInputs) (*resident, bool, error) {
	key := in.key(spec)
	r, loaded := c.lookup(key), false
	if r == nil {
		c.loading.Lock()
		if r = c.lookup(key); r == nil {
			var err error
			if r, err = c.load(ctx, spec, in); err != nil {
				c.loading.Unlock()
				return nil, false, err
			}
			r.key, r.refs, loaded = key, 1, true
			c.insert(r)
		}
		c.loading.Unlock()
	}
	r.gen.Lock()
	return r, loaded, nil
}

// lookup finds key, moves it to the front and takes a reference.
func (c *pipelineCache) lookup(key string) *resident {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, r := range c.entries {
		if r.key == key {
			copy(c.entries[1:i+1], c.entries[:i])
			c.entries[0] = r
			r.refs++
			return r
		}
	}
	return nil
}

func (c *pipelineCache) insert(r *resident) {
	c.mu.Lock()
	c.entries = append([]*resident{r}, c.entries...)
	victims := c.evictLocked()
	c.mu.Unlock()
	closeAll(victims)
}

func (c *pipelineCache) release(r *resident) {
	r.gen.Unlock()
	c.mu.Lock()
	r.refs--
	victims := c.evictLocked()
	c.mu.Unlock()
	closeAll(victims)
}

// evictLocked drops unused entries beyond size, oldest first.
func (c *pipelineCache) evictLocked() []*resident {
	var victims []*resident
	for i := len(c.entries) - 1; i >= 0 && len(c.entries) > c.size; i-- {
		if r := c.entries[i]; r.refs == 0 {
			victims = append(victims, r)
			c.entries = append(c.entries[:i], c.entries[i+1:]...)
		}
	}
	return victims
}

func closeAll(rs []*resident) {
	for _, r := range rs {
		_ = r.p.Close()
	}
}

func (c *pipelineCache) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.entries))
	for i, r := range c.entries {
		out[i] = r.variant
	}
	return out
}

func (c *pipelineCache) close() error {
	c.mu.Lock()
	rs := c.entries
	c.entries = nil
	c.mu.Unlock()
	var errs []error
	for _, r := range rs {
		errs = append(errs, r.p.Close())
	}
	return errors.Join(errs...)
}
