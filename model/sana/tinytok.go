package sana

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// tinyCorpus is what the sana-tiny tokenizer's merges are learned from:
// the complex human instruction and a few demo prompts, so that both
// tokenize to short sequences while anything else falls back to bytes.
func tinyCorpus() []string {
	demo := []string{
		"a photo of an astronaut riding a horse on mars",
		"a red fox in a snowy forest, watercolor painting",
		"a lighthouse on a cliff at sunset over the sea",
		"portrait of a cat wearing a blue hat, studio light",
		"a city street at night with neon signs and rain",
		"mountains and a green valley under a clear sky",
	}
	return append([]string{CHI()}, demo...)
}

// tinyMerges is the number of BPE merges learned for sana-tiny.
const tinyMerges = 400

// tinyTokenizerJSON builds a Gemma-style tokenizer.json: BPE with byte
// fallback, <pad>/<eos>/<bos>/<unk> = 0/1/2/3, byte tokens <0x00>…<0xFF>,
// the corpus characters, then merges learned deterministically (most
// frequent pair, ties broken by the pair's text). Normalizer " " → "▁",
// no pre-tokenizer, template post-processor "<bos> $A". Returns the JSON
// and the vocabulary size.
func tinyTokenizerJSON() ([]byte, int, error) {
	vocab := []string{"<pad>", "<eos>", "<bos>", "<unk>"}
	for b := 0; b < 256; b++ {
		vocab = append(vocab, fmt.Sprintf("<0x%02X>", b))
	}
	words := map[string]int{}
	chars := map[string]bool{}
	for _, text := range tinyCorpus() {
		norm := strings.ReplaceAll(text, " ", "▁")
		for _, w := range strings.SplitAfter(norm, "\n") {
			for j, piece := range strings.Split(w, "▁") {
				if j > 0 {
					piece = "▁" + piece
				}
				if piece != "" {
					words[piece]++
				}
			}
		}
		for _, r := range norm {
			chars[string(r)] = true
		}
	}
	charList := make([]string, 0, len(chars))
	for c := range chars {
		charList = append(charList, c)
	}
	sort.Strings(charList)
	vocab = append(vocab, charList...)
	merges := learnMerges(words, tinyMerges)
	for _, m := range merges {
		vocab = append(vocab, m[0]+m[1])
	}
	js, err := tokenizerJSON(vocab, merges)
	return js, len(vocab), err
}

// learnMerges runs n rounds of BPE training over weighted words.
func learnMerges(words map[string]int, n int) [][2]string {
	type word struct {
		syms  []string
		count int
	}
	keys := make([]string, 0, len(words))
	for k := range words {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ws := make([]word, len(keys))
	for i, k := range keys {
		for _, r := range k {
			ws[i].syms = append(ws[i].syms, string(r))
		}
		ws[i].count = words[k]
	}
	var merges [][2]string
	for len(merges) < n {
		counts := map[[2]string]int{}
		for _, w := range ws {
			for j := 0; j+1 < len(w.syms); j++ {
				counts[[2]string{w.syms[j], w.syms[j+1]}] += w.count
			}
		}
		best, bestN := [2]string{}, 0
		for p, c := range counts {
			if c > bestN || c == bestN && p[0]+" "+p[1] < best[0]+" "+best[1] {
				best, bestN = p, c
			}
		}
		if bestN == 0 {
			break
		}
		merges = append(merges, best)
		for i := range ws {
			ws[i].syms = mergePair(ws[i].syms, best)
		}
	}
	return merges
}

func mergePair(syms []string, p [2]string) []string {
	out := syms[:0:0]
	for j := 0; j < len(syms); j++ {
		if j+1 < len(syms) && syms[j] == p[0] && syms[j+1] == p[1] {
			out = append(out, p[0]+p[1])
			j++
			continue
		}
		out = append(out, syms[j])
	}
	return out
}

// tokenizerJSON renders the HF tokenizers file.
func tokenizerJSON(vocab []string, merges [][2]string) ([]byte, error) {
	type added struct {
		ID         int    `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	}
	ids := map[string]int{}
	for i, v := range vocab {
		if _, dup := ids[v]; dup {
			return nil, fmt.Errorf("tiny tokenizer: duplicate vocabulary entry %q", v)
		}
		ids[v] = i
	}
	var specials []added
	for i, s := range vocab[:4] {
		specials = append(specials, added{ID: i, Content: s, Special: true})
	}
	bos := map[string]any{"SpecialToken": map[string]any{"id": "<bos>", "type_id": 0}}
	seq := func(id string, typ int) map[string]any {
		return map[string]any{"Sequence": map[string]any{"id": id, "type_id": typ}}
	}
	doc := map[string]any{
		"version":       "1.0",
		"truncation":    nil,
		"padding":       nil,
		"added_tokens":  specials,
		"normalizer":    map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"},
		"pre_tokenizer": nil,
		"post_processor": map[string]any{
			"type":   "TemplateProcessing",
			"single": []any{bos, seq("A", 0)},
			"pair":   []any{bos, seq("A", 0), bos, seq("B", 1)},
			"special_tokens": map[string]any{
				"<bos>": map[string]any{"id": "<bos>", "ids": []int{2}, "tokens": []string{"<bos>"}},
			},
		},
		"decoder": map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
			map[string]any{"type": "ByteFallback"},
			map[string]any{"type": "Fuse"},
		}},
		"model": map[string]any{
			"type": "BPE", "dropout": nil, "unk_token": "<unk>", "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
			"vocab": ids, "merges": slices.Clone(merges),
		},
	}
	return json.MarshalIndent(doc, "", " ")
}
