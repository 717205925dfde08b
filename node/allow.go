package node

import (
	"context"

	"github.com/sanafarm/sanafarm/protocol"
)

// guardOpeners wraps cfg's openers so that a task opens a prompt file only
// under cfg.Allow.Read and an output only under cfg.Allow.Write, checked
// before anything is opened: a job is untrusted input, and without the
// check "file:///proc/self/environ" as a prompt file puts the node's
// secrets into the outputs, and an output URL writes wherever the node's
// user may. Symlinks are resolved first, so a link inside an allowed root
// cannot lead out of it. A zero Allow refuses every job
// that names a file; the refusal names the flag that adds roots.
func guardOpeners(cfg *PipelineConfig) protocol.Access {
	a := cfg.Allow
	a.Read, a.Write = a.Read.ResolvingSymlinks(), a.Write.ResolvingSymlinks()
	if a.Who == "" {
		a.Who = "node"
	}
	openStore, openPrompts := cfg.OpenStore, cfg.OpenPrompts
	cfg.OpenStore = func(ctx context.Context, url string) (ObjectStore, error) {
		if err := a.CheckWrite(url); err != nil {
			return nil, err
		}
		return openStore(ctx, url)
	}
	cfg.OpenPrompts = func(ctx context.Context, src protocol.PromptSource) (PromptSource, error) {
		if src.URL != "" {
			if err := a.WithUploadedInput(src.URL).CheckRead(src.URL); err != nil { // submit's uploads: under the write roots
				return nil, err
			}
		}
		return openPrompts(ctx, src)
	}
	return a
}
