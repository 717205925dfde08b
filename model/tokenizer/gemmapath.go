package tokenizer

import (
	"os"
	"path/filepath"
)

// DefaultGemmaPath is where sanafarm looks for the real Gemma
// tokenizer.json (Gemma-licensed, never committed): $SANAFARM_GEMMA_TOKENIZER,
// else the cache that scripts/fetch-testdata.sh fills ($SANAFARM_TEST_CACHE,
// or $XDG_CACHE_HOME/sanafarm, or ~/.cache/sanafarm).
func DefaultGemmaPath() string {
	if p := os.Getenv("SANAFARM_GEMMA_TOKENIZER"); p != "" {
		return p
	}
	dir := os.Getenv("SANAFARM_TEST_CACHE")
	if dir == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		dir = filepath.Join(base, "sanafarm")
	}
	return filepath.Join(dir, "gemma-tokenizer", "tokenizer.json")
}
