package node

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/sanafarm/sanafarm/model/lora"
	"github.com/sanafarm/sanafarm/protocol"
)

// maxCachedAdapters bounds adapterCache: parsed adapters hold float32
// copies of their weights.
const maxCachedAdapters = 4

// adapterCache keeps parsed LoRA adapters by their local file's identity
// (path, size, modification time), so that a node does not read, hash and
// parse a large adapter again for every shard of a job. s3:// adapters
// are read each time.
type adapterCache struct {
	mu    sync.Mutex
	m     map[string]*lora.Adapter
	order []string // oldest first
}

func (c *adapterCache) get(id string) *lora.Adapter {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id]
}

func (c *adapterCache) put(id string, a *lora.Adapter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*lora.Adapter{}
	}
	if _, ok := c.m[id]; ok {
		return
	}
	c.m[id] = a
	c.order = append(c.order, id)
	if len(c.order) > maxCachedAdapters {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
}

// readLoRA returns the adapter at src (the job's url, with an hf:// repo
// completed to its default file), from the cache when its local file is
// unchanged. The allow-list is checked every time.
func (e *PipelineExecutor) readLoRA(ctx context.Context, field, url, src string) (*lora.Adapter, error) {
	id, err := e.localIdentity(ctx, field, src)
	if err != nil {
		return nil, err
	}
	if id != "" {
		if a := e.adapters.get(id + "\x00" + url); a != nil {
			return a, nil
		}
	}
	b, err := e.readInput(ctx, field, src, maxLoRABytes)
	if err != nil {
		return nil, err
	}
	a, err := lora.Parse(url, b)
	if err != nil {
		return nil, err
	}
	if id != "" {
		e.adapters.put(id+"\x00"+url, a)
	}
	return a, nil
}

// localIdentity is "path|size|mtime" of a local or Hub-cached input, ""
// for an S3 object.
func (e *PipelineExecutor) localIdentity(ctx context.Context, field, raw string) (string, error) {
	var path string
	if protocol.HubURL(raw) {
		p, err := e.fetchHub(ctx, field, raw, maxLoRABytes)
		if err != nil {
			return "", err
		}
		path = p
	} else {
		if err := e.allow.CheckModelFile(field, raw); err != nil {
			return "", err
		}
		loc, err := protocol.ParseLocation(raw)
		if err != nil || loc.IsS3() {
			return "", nil // readInput reports a bad location
		}
		path = loc.Path
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", field, raw, err)
	}
	return fmt.Sprintf("%s|%d|%d", path, st.Size(), st.ModTime().UnixNano()), nil
}
