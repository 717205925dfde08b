package tokenizer

// trie matches added tokens leftmost-longest, as HF tokenizers'
// Aho-Corasick matcher (MatchKind::LeftmostLongest) does.
type trie struct {
	nodes []trieNode
}

type trieNode struct {
	next map[byte]int32
	id   int // token id ending here, -1 if none
}

func newTrie() *trie {
	return &trie{nodes: []trieNode{{id: -1}}}
}

func (t *trie) add(s string, id int) {
	n := 0
	for i := 0; i < len(s); i++ {
		c, ok := t.nodes[n].next[s[i]]
		if !ok {
			if t.nodes[n].next == nil {
				t.nodes[n].next = make(map[byte]int32)
			}
			c = int32(len(t.nodes))
			t.nodes[n].next[s[i]] = c
			t.nodes = append(t.nodes, trieNode{id: -1})
		}
		n = int(c)
	}
	t.nodes[n].id = id
}

func (t *trie) empty() bool { return len(t.nodes) == 1 }

// longest returns the id and length of the longest token that s starts
// with, or -1, 0.
func (t *trie) longest(s string) (id, n int) {
	id, node := -1, 0
	for i := 0; i < len(s); i++ {
		c, ok := t.nodes[node].next[s[i]]
		if !ok {
			break
		}
		node = int(c)
		if t.nodes[node].id >= 0 {
			id, n = t.nodes[node].id, i+1
		}
	}
	return id, n
}

// split calls text for every stretch of s between added tokens and token
// for every added token, in order.
func (t *trie) split(s string, text func(string), token func(int)) {
	if t.empty() {
		text(s)
		return
	}
	start := 0
	for i := 0; i < len(s); {
		id, n := t.longest(s[i:])
		if id < 0 {
			i++
			continue
		}
		if i > start {
			text(s[start:i])
		}
		token(id)
		i += n
		start = i
	}
	if start < len(s) {
		text(s[start:])
	}
}
