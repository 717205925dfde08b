package weights

import "fmt"

// Bounds on what a model config may declare. A config comes from whatever
// Hub repo or mirror a job names, and its counts drive loops, products and
// allocations before the weights can show them wrong: num_layers = 2^40
// once meant a node binding missing tensors until it ran out of memory.
// Each bound is far above every released model (docs/architecture.md §7).
const (
	// MaxLayers bounds blocks, layers and per-stage counts (Sana-4.8B has
	// 60 blocks, Gemma-2-27B 46 layers).
	MaxLayers = 1024
	// MaxWidth bounds a hidden, intermediate or channel width
	// (Gemma-2-27B's MLP is 36864 wide).
	MaxWidth = 1 << 17
	// MaxHeads bounds attention heads, MaxHeadDim one head's width.
	MaxHeads   = 1024
	MaxHeadDim = 4096
	// MaxVocab bounds a tokenizer's vocabulary (Gemma-2's is 256000).
	MaxVocab = 1 << 22
	// MaxConfigBytes bounds a config.json (real ones are under 4 KiB).
	MaxConfigBytes = 1 << 20
)

// CheckCount returns an error naming key and value when v is outside
// [lo, hi]; scope names the config ("transformer config").
func CheckCount(scope, key string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s: %s = %d (want %d to %d)", scope, key, v, lo, hi)
	}
	return nil
}
