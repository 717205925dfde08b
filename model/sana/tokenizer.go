package sana

import (
	"fmt"
	"io/fs"
	"path"

	"github.com/sanafarm/sanafarm/model/tokenizer"
)

// gemmaTokenizer adapts model/tokenizer to the pipeline's Tokenizer.
type gemmaTokenizer struct{ t *tokenizer.Tokenizer }

func (g gemmaTokenizer) Encode(text string) ([]int, error) { return g.t.Encode(text, true), nil }

// LoadTokenizer is the TokenizerLoader for a Hugging Face tokenizer.json
// (the Gemma tokenizer of the Sana repos, or sana-tiny's generated one).
func LoadTokenizer(fsys fs.FS, dir string) (Tokenizer, error) {
	name := path.Join(dir, "tokenizer.json")
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("reading tokenizer: %w", err)
	}
	t, err := tokenizer.Parse(name, b)
	if err != nil {
		return nil, err
	}
	return gemmaTokenizer{t}, nil
}
