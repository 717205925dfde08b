package tokenizer

import "unicode/utf8"

// symbol is one node of the doubly linked list of a word being merged.
type symbol struct {
	id         int
	prev, next int // -1 at the ends
	gone       bool
}

// candidate is a possible merge of the symbol at pos() with its
// successor into id. key is rank<<32 | position, so that candidates order
// by rank, then position, as in HF tokenizers' heap.
type candidate struct {
	key uint64
	id  int32
}

func newCandidate(m merge, pos int) candidate {
	return candidate{key: uint64(m.rank)<<32 | uint64(pos), id: m.id}
}

func (a candidate) pos() int { return int(uint32(a.key)) }

func (a candidate) less(b candidate) bool { return a.key < b.key }

// mergeHeap is a binary min-heap of candidates.
type mergeHeap []candidate

func (h *mergeHeap) push(c candidate) {
	*h = append(*h, c)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !c.less(s[p]) {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = c
}

// pop removes the smallest candidate, moving a hole down the heap.
func (h *mergeHeap) pop() candidate {
	s := *h
	top, last := s[0], s[len(s)-1]
	s = s[:len(s)-1]
	*h = s
	n, i := len(s), 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && s[r].key < s[l].key {
			l = r
		}
		if last.key <= s[l].key {
			break
		}
		s[i] = s[l]
		i = l
	}
	if n > 0 {
		s[i] = last
	}
	return top
}

// bpe tokenizes one normalized piece with the BPE model.
func (t *Tokenizer) bpe(word string) []int {
	if word == "" {
		return nil
	}
	if t.ignoreMerges {
		if id, ok := t.vocab[word]; ok {
			return []int{id}
		}
	}
	syms := t.initialSymbols(word)
	t.mergeAll(syms)
	out := make([]int, 0, len(syms))
	for _, s := range syms {
		if !s.gone {
			out = append(out, s.id)
		}
	}
	return out
}

// initialSymbols splits a word into characters: a character's own token
// if the vocab has it, else its byte tokens (byte fallback), else unk
// (consecutive unks fused when fuse_unk is set).
func (t *Tokenizer) initialSymbols(word string) []symbol {
	syms := make([]symbol, 0, len(word))
	add := func(id int) {
		syms = append(syms, symbol{id: id, prev: len(syms) - 1, next: len(syms) + 1})
	}
	pendingUnk := false
	for i := 0; i < len(word); {
		_, size := utf8.DecodeRuneInString(word[i:])
		ch := word[i : i+size]
		i += size
		if id, ok := t.vocab[ch]; ok {
			if pendingUnk {
				add(t.unkID)
				pendingUnk = false
			}
			add(id)
			continue
		}
		if t.byteFallback && t.hasBytes(ch) {
			if pendingUnk {
				add(t.unkID)
				pendingUnk = false
			}
			for j := 0; j < len(ch); j++ {
				add(t.byteIDs[ch[j]])
			}
			continue
		}
		if t.unkID < 0 {
			continue // no unk token: the character is dropped
		}
		if pendingUnk && !t.fuseUnk {
			add(t.unkID)
		}
		pendingUnk = true
	}
	if pendingUnk {
		add(t.unkID)
	}
	if n := len(syms); n > 0 {
		syms[n-1].next = -1
	}
	return syms
}

func (t *Tokenizer) hasBytes(ch string) bool {
	for j := 0; j < len(ch); j++ {
		if t.byteIDs[ch[j]] < 0 {
			return false
		}
	}
	return true
}

// mergeAll applies merges lowest rank first (leftmost first among equal
// ranks) until none applies, as HF tokenizers' Word::merge_all does.
func (t *Tokenizer) mergeAll(syms []symbol) {
	h := make(mergeHeap, 0, len(syms))
	for i := 0; i+1 < len(syms); i++ {
		if m, ok := t.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			h.push(newCandidate(m, i))
		}
	}
	for len(h) > 0 {
		c := h.pop()
		pos := c.pos()
		s := &syms[pos]
		if s.gone || s.next < 0 {
			continue
		}
		right := syms[s.next]
		if m, ok := t.merges[pairKey(s.id, right.id)]; !ok || m.id != c.id {
			continue // stale candidate
		}
		s.id = int(c.id)
		syms[s.next].gone = true
		s.next = right.next
		if right.next >= 0 {
			syms[right.next].prev = pos
		}
		if s.prev >= 0 {
			if m, ok := t.merges[pairKey(syms[s.prev].id, s.id)]; ok {
				h.push(newCandidate(m, s.prev))
			}
		}
		if s.next >= 0 {
			if m, ok := t.merges[pairKey(s.id, syms[s.next].id)]; ok {
				h.push(newCandidate(m, pos))
			}
		}
	}
}
