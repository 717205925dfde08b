package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Encode returns the token ids of text; with addSpecial, the
// post-processor's special tokens (for Gemma, a leading <bos>) are added.
// Added tokens in the text (including special ones such as "<eos>") are
// recognised, as HF tokenizers does by default.
func (t *Tokenizer) Encode(text string, addSpecial bool) []int {
	if !utf8.ValidString(text) {
		text = sanitize(text)
	}
	var ids []int
	if addSpecial {
		ids = append(ids, t.prefix...)
	}
	token := func(id int) { ids = append(ids, id) }
	t.raw.split(text, func(s string) {
		t.norm.split(t.normalize(s), func(piece string) {
			ids = append(ids, t.piece(piece)...)
		}, token)
	}, token)
	if addSpecial {
		ids = append(ids, t.suffix...)
	}
	return ids
}

// sanitize replaces each byte of an invalid UTF-8 sequence with U+FFFD.
func sanitize(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

func (t *Tokenizer) normalize(s string) string {
	for _, r := range t.replace {
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	return s
}

// piece returns the BPE tokens of a normalized piece, through the cache.
func (t *Tokenizer) piece(s string) []int {
	t.mu.Lock()
	ids, ok := t.cache[s]
	t.mu.Unlock()
	if ok {
		return ids
	}
	ids = t.bpe(s)
	t.mu.Lock()
	if len(t.cache) >= maxCache {
		clear(t.cache)
	}
	t.cache[s] = ids
	t.mu.Unlock()
	return ids
}

// TokenID returns the id of a token string.
func (t *Tokenizer) TokenID(tok string) (int, bool) {
	id, ok := t.vocab[tok]
	return id, ok
}

// VocabSize returns the number of entries in the model vocabulary.
func (t *Tokenizer) VocabSize() int { return len(t.vocab) }
