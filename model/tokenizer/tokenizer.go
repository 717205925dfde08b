// Package tokenizer implements the Gemma tokenizer of the Sana pipelines
// from a Hugging Face tokenizer.json (BPE with byte fallback, the
// Replace(" " → "▁") normalizer, added tokens and the "<bos> $A" template
// post-processor), with the same ids as the Rust `tokenizers` library, and
// diffusers' SanaPipeline prompt handling (lower-casing, complex human
// instruction, padding, truncation and select_index).
//
// Strings that are not valid UTF-8 (which Python and Rust strings cannot
// hold) are read as Go's range loop reads them: each invalid byte becomes
// U+FFFD before tokenization.
package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/sanafarm/sanafarm/internal/readcap"
)

// Tokenizer encodes text to token ids. It is safe for concurrent use.
type Tokenizer struct {
	name  string
	vocab map[string]int
	// merges maps a pair of ids (left<<32 | right) to its rank and result.
	merges map[uint64]merge
	// byteIDs holds the ids of the byte tokens <0x00>..<0xFF>, -1 if absent.
	byteIDs      [256]int
	unkID        int // -1 if the model has no unk token
	byteFallback bool
	fuseUnk      bool
	ignoreMerges bool

	// replace maps normalizer patterns to their replacements, applied in
	// order (the only normalizer supported is Replace, alone or in a
	// Sequence).
	replace [][2]string
	// raw holds the added tokens matched before normalization
	// (normalized=false), norm those matched after it.
	raw, norm *trie
	// prefix and suffix are the post-processor's special-token ids around
	// a single sequence.
	prefix, suffix []int

	mu    sync.Mutex
	cache map[string][]int
}

type merge struct {
	rank, id int32
}

// MaxFileBytes bounds a tokenizer.json (Gemma-2's is 17 MB; the file
// comes from whatever repo a job names).
const MaxFileBytes = 256 << 20

// maxCache bounds the per-tokenizer cache of encoded pieces.
const maxCache = 4096

// Load reads and parses a tokenizer.json file.
func Load(path string) (*Tokenizer, error) {
	data, err := readcap.File(path, MaxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return Parse(path, data)
}

// fileJSON is the subset of tokenizer.json that is used.
type fileJSON struct {
	AddedTokens   []addedJSON     `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Model         *modelJSON      `json:"model"`
}

type addedJSON struct {
	ID         *int   `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type modelJSON struct {
	Type                    string          `json:"type"`
	Vocab                   map[string]int  `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	UnkToken                *string         `json:"unk_token"`
	ByteFallback            bool            `json:"byte_fallback"`
	FuseUnk                 bool            `json:"fuse_unk"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	Dropout                 *float64        `json:"dropout"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
}

// Parse builds a tokenizer from the contents of a tokenizer.json; name is
// used in error messages.
func Parse(name string, data []byte) (*Tokenizer, error) {
	t, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", name, err)
	}
	t.name = name
	return t, nil
}

func parse(data []byte) (*Tokenizer, error) {
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not a tokenizer.json: %w", err)
	}
	if f.Model == nil {
		return nil, fmt.Errorf("model: missing")
	}
	t := &Tokenizer{cache: make(map[string][]int)}
	if err := t.setModel(f.Model); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if err := t.setNormalizer(f.Normalizer); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	if !isNull(f.PreTokenizer) {
		return nil, fmt.Errorf("pre_tokenizer: only null is supported")
	}
	if err := t.setAdded(f.AddedTokens); err != nil {
		return nil, err
	}
	if err := t.setPostProcessor(f.PostProcessor); err != nil {
		return nil, fmt.Errorf("post_processor: %w", err)
	}
	return t, nil
}

func isNull(m json.RawMessage) bool {
	return len(m) == 0 || string(m) == "null"
}

func (t *Tokenizer) setModel(m *modelJSON) error {
	switch {
	case m.Type != "BPE":
		return fmt.Errorf("type %q: only BPE is supported", m.Type)
	case m.Dropout != nil && *m.Dropout != 0:
		return fmt.Errorf("dropout: must be null or 0")
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "":
		return fmt.Errorf("continuing_subword_prefix: not supported")
	case m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "":
		return fmt.Errorf("end_of_word_suffix: not supported")
	case len(m.Vocab) == 0:
		return fmt.Errorf("vocab: missing or empty")
	}
	t.vocab = m.Vocab
	for tok, id := range m.Vocab {
		if id < 0 || id >= 1<<31 {
			return fmt.Errorf("vocab: id %d of %q out of range", id, tok)
		}
	}
	t.byteFallback, t.fuseUnk, t.ignoreMerges = m.ByteFallback, m.FuseUnk, m.IgnoreMerges
	t.unkID = -1
	if m.UnkToken != nil {
		id, ok := m.Vocab[*m.UnkToken]
		if !ok {
			return fmt.Errorf("unk_token: %q not in vocab", *m.UnkToken)
		}
		t.unkID = id
	}
	for b := range t.byteIDs {
		t.byteIDs[b] = -1
		if id, ok := m.Vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
			t.byteIDs[b] = id
		}
	}
	return t.setMerges(m.Merges)
}

// setMerges ranks the merges by position; as in HF tokenizers, a later
// duplicate of a pair overrides an earlier one.
func (t *Tokenizer) setMerges(raw json.RawMessage) error {
	pairs, err := mergePairs(raw)
	if err != nil {
		return err
	}
	t.merges = make(map[uint64]merge, len(pairs))
	for i, p := range pairs {
		a, b := p[0], p[1]
		aid, ok := t.vocab[a]
		if !ok {
			return fmt.Errorf("merges[%d]: token %q not in vocab", i, a)
		}
		bid, ok := t.vocab[b]
		if !ok {
			return fmt.Errorf("merges[%d]: token %q not in vocab", i, b)
		}
		nid, ok := t.vocab[a+b]
		if !ok {
			return fmt.Errorf("merges[%d]: merged token %q not in vocab", i, a+b)
		}
		t.merges[pairKey(aid, bid)] = merge{rank: int32(i), id: int32(nid)}
	}
	return nil
}

// mergePairs reads the merges in either format: "a b" strings (decoded
// in one go, the common case) or ["a", "b"] pairs.
func mergePairs(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err == nil {
		pairs := make([][2]string, len(strs))
		for i, s := range strs {
			a, b, ok := strings.Cut(s, " ")
			if !ok || strings.Contains(b, " ") {
				return nil, fmt.Errorf("merges[%d]: %q is not two tokens separated by one space", i, s)
			}
			pairs[i] = [2]string{a, b}
		}
		return pairs, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("merges: not a list: %w", err)
	}
	pairs := make([][2]string, len(items))
	for i, r := range items {
		var p []string
		if err := json.Unmarshal(r, &p); err != nil || len(p) != 2 {
			return nil, fmt.Errorf("merges[%d]: not a \"a b\" string or a pair of strings: %s", i, truncate(string(r)))
		}
		pairs[i] = [2]string{p[0], p[1]}
	}
	return pairs, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func pairKey(a, b int) uint64 { return uint64(a)<<32 | uint64(uint32(b)) }

type normalizerJSON struct {
	Type    string `json:"type"`
	Pattern *struct {
		String *string `json:"String"`
	} `json:"pattern"`
	Content     string            `json:"content"`
	Normalizers []json.RawMessage `json:"normalizers"`
}

// setNormalizer accepts null, Replace with a String pattern, or a
// Sequence of those.
func (t *Tokenizer) setNormalizer(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var n normalizerJSON
	if err := json.Unmarshal(raw, &n); err != nil {
		return err
	}
	switch n.Type {
	case "Sequence":
		for i, sub := range n.Normalizers {
			if err := t.setNormalizer(sub); err != nil {
				return fmt.Errorf("normalizers[%d]: %w", i, err)
			}
		}
		return nil
	case "Replace":
		if n.Pattern == nil || n.Pattern.String == nil || *n.Pattern.String == "" {
			return fmt.Errorf("normalizer Replace: only a non-empty String pattern is supported")
		}
		t.replace = append(t.replace, [2]string{*n.Pattern.String, n.Content})
		return nil
	}
	return fmt.Errorf("type %q: only Replace and Sequence are supported", n.Type)
}

func (t *Tokenizer) setAdded(tokens []addedJSON) error {
	t.raw, t.norm = newTrie(), newTrie()
	for i, a := range tokens {
		switch {
		case a.ID == nil || *a.ID < 0:
			return fmt.Errorf("added_tokens[%d]: missing or negative id", i)
		case a.Content == "":
			return fmt.Errorf("added_tokens[%d]: empty content", i)
		case a.SingleWord || a.LStrip || a.RStrip:
			return fmt.Errorf("added_tokens[%d] %q: single_word, lstrip and rstrip are not supported", i, a.Content)
		}
		if a.Normalized {
			t.norm.add(t.normalize(a.Content), *a.ID)
		} else {
			t.raw.add(a.Content, *a.ID)
		}
	}
	return nil
}

type templateJSON struct {
	Type          string            `json:"type"`
	Single        []json.RawMessage `json:"single"`
	SpecialTokens map[string]struct {
		IDs []int `json:"ids"`
	} `json:"special_tokens"`
}

type pieceJSON struct {
	SpecialToken *struct {
		ID string `json:"id"`
	} `json:"SpecialToken"`
	Sequence *struct {
		ID string `json:"id"`
	} `json:"Sequence"`
}

// setPostProcessor accepts null or a TemplateProcessing whose single
// template is special tokens around $A.
func (t *Tokenizer) setPostProcessor(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var p templateJSON
	if err := json.Unmarshal(raw, &p); err != nil {
		return err
	}
	if p.Type != "TemplateProcessing" {
		return fmt.Errorf("type %q: only TemplateProcessing is supported", p.Type)
	}
	seen := false
	for i, r := range p.Single {
		var piece pieceJSON
		if err := json.Unmarshal(r, &piece); err != nil {
			return fmt.Errorf("single[%d]: %w", i, err)
		}
		switch {
		case piece.Sequence != nil && !seen:
			seen = true
		case piece.SpecialToken != nil:
			st, ok := p.SpecialTokens[piece.SpecialToken.ID]
			if !ok {
				return fmt.Errorf("single[%d]: special token %q not in special_tokens", i, piece.SpecialToken.ID)
			}
			if seen {
				t.suffix = append(t.suffix, st.IDs...)
			} else {
				t.prefix = append(t.prefix, st.IDs...)
			}
		default:
			return fmt.Errorf("single[%d]: expected one SpecialToken or the Sequence", i)
		}
	}
	if !seen {
		return fmt.Errorf("single: no Sequence")
	}
	return nil
}
