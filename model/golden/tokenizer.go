package golden

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"

	"github.com/sanafarm/sanafarm/model/tokenizer"
)

// tokensFile is the golden tokenizer case (tokens.json).
type tokensFile struct {
	Meta struct {
		NegPrompt string `json:"negative_prompt"`
	} `json:"meta"`
	Cases []struct {
		Prompt   string  `json:"prompt"`
		PlainIDs []int   `json:"plain_ids"`
		FullIDs  []int64 `json:"full_input_ids"`
		FullMask []int64 `json:"full_attention_mask"`
		SelIDs   []int64 `json:"selected_input_ids"`
		SelMask  []int64 `json:"selected_attention_mask"`
		NegIDs   []int64 `json:"negative_selected_input_ids"`
		NegMask  []int64 `json:"negative_attention_mask"`
	} `json:"cases"`
}

// GemmaTokenizerPath is where tokenizer cases look for the real Gemma
// tokenizer.json by default (tokenizer.DefaultGemmaPath).
func GemmaTokenizerPath() string { return tokenizer.DefaultGemmaPath() }

// runTokenizer checks every prompt of tokens.json: plain ids, the full
// pipeline ids/mask, the 300 kept positions and the negative prompt's.
// max_abs is the number of mismatching sequences (so tol is 0).
func (r *Runner) runTokenizer(fsys fs.FS, name string) []Result {
	fail := func(err error) []Result { return []Result{{Case: name, Err: err}} }
	b, err := fs.ReadFile(fsys, "tokens.json")
	if err != nil {
		return fail(err)
	}
	var g tokensFile
	if err := json.Unmarshal(b, &g); err != nil {
		return fail(fmt.Errorf("tokens.json: %w", err))
	}
	path := r.Tokenizer
	if path == "" {
		path = GemmaTokenizerPath()
	}
	tk, err := tokenizer.Load(path)
	if err != nil {
		return fail(fmt.Errorf("%w (fetch it with scripts/fetch-testdata.sh, or pass --tokenizer)", err))
	}
	bad, err := tokenMismatches(tk, g)
	return []Result{{Case: name, MaxAbs: float64(bad), Tol: 0, Err: err}}
}

func tokenMismatches(tk *tokenizer.Tokenizer, g tokensFile) (int, error) {
	opts := tokenizer.DefaultPromptOptions()
	neg, err := tk.EncodeSanaNegativePrompt(g.Meta.NegPrompt, opts)
	if err != nil {
		return 0, err
	}
	nids, nmask := neg.Selected()
	bad := 0
	for _, c := range g.Cases {
		p, err := tk.EncodeSanaPrompt(c.Prompt, opts)
		if err != nil {
			return 0, err
		}
		ids, mask := p.Selected()
		for _, ok := range []bool{slices.Equal(tk.Encode(c.Prompt, true), c.PlainIDs),
			slices.Equal(p.InputIDs, c.FullIDs), slices.Equal(p.AttentionMask, c.FullMask),
			slices.Equal(ids, c.SelIDs), slices.Equal(mask, c.SelMask),
			slices.Equal(nids, c.NegIDs), slices.Equal(nmask, c.NegMask)} {
			if !ok {
				bad++
			}
		}
	}
	return bad, nil
}
