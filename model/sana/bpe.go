package sana

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// bpeTokenizer is a minimal reader of Gemma-style tokenizer.json files
// (BPE, byte fallback, " " → "▁" normalizer, no pre-tokenizer, <bos>
// template): enough for sana-tiny and for tests. It does not handle added
// tokens inside the text or other normalizers; LoadBPETokenizer rejects
// files that need them.
type bpeTokenizer struct {
	vocab map[string]int
	ranks map[[2]string]int
	bos   int
}

// LoadBPETokenizer is a TokenizerLoader for dir/tokenizer.json.
func LoadBPETokenizer(fsys fs.FS, dir string) (Tokenizer, error) {
	name := path.Join(dir, "tokenizer.json")
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Normalizer struct {
			Type    string `json:"type"`
			Content string `json:"content"`
		} `json:"normalizer"`
		Model struct {
			Type         string            `json:"type"`
			ByteFallback bool              `json:"byte_fallback"`
			Vocab        map[string]int    `json:"vocab"`
			Merges       []json.RawMessage `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	m := doc.Model
	if m.Type != "BPE" || !m.ByteFallback || doc.Normalizer.Type != "Replace" || doc.Normalizer.Content != "▁" {
		return nil, fmt.Errorf("%s: want a byte-fallback BPE model with the Gemma normalizer", name)
	}
	t := &bpeTokenizer{vocab: m.Vocab, ranks: map[[2]string]int{}}
	var ok bool
	if t.bos, ok = m.Vocab["<bos>"]; !ok {
		return nil, fmt.Errorf("%s: no <bos> token", name)
	}
	for i, raw := range m.Merges {
		var pair [2]string
		if err := json.Unmarshal(raw, &pair); err != nil {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return nil, fmt.Errorf("%s: merge %d: %w", name, i, err)
			}
			a, b, _ := strings.Cut(s, " ")
			pair = [2]string{a, b}
		}
		if _, dup := t.ranks[pair]; !dup {
			t.ranks[pair] = i
		}
	}
	return t, nil
}

// Encode returns <bos> followed by the BPE ids of text.
func (t *bpeTokenizer) Encode(text string) ([]int, error) {
	var syms []string
	for _, r := range strings.ReplaceAll(text, " ", "▁") {
		syms = append(syms, string(r))
	}
	for {
		best, at := -1, -1
		for j := 0; j+1 < len(syms); j++ {
			if r, ok := t.ranks[[2]string{syms[j], syms[j+1]}]; ok && (best < 0 || r < best) {
				best, at = r, j
			}
		}
		if at < 0 {
			break
		}
		syms = mergePair(syms, [2]string{syms[at], syms[at+1]})
	}
	ids := []int{t.bos}
	for _, s := range syms {
		if id, ok := t.vocab[s]; ok {
			ids = append(ids, id)
			continue
		}
		for _, b := range []byte(s) {
			id, ok := t.vocab[fmt.Sprintf("<0x%02X>", b)]
			if !ok {
				return nil, fmt.Errorf("no token for byte 0x%02X", b)
			}
			ids = append(ids, id)
		}
	}
	return ids, nil
}
