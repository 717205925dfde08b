package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const tinyPath = "testdata/tiny/tokenizer.json"

func loadTiny(t testing.TB) *Tokenizer {
	t.Helper()
	tk, err := Load(tinyPath)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// Ids of the tiny fixture (testdata/tiny/tokenizer.json).
const (
	tPad, tBos, tUnk, tNL, tTagB, tXY = 0, 2, 3, 4, 5, 6
	tSp, tA, tB, tT, tTe, tX, tY      = 7, 8, 9, 13, 17, 27, 28
	tSpThe, tAB, tBC, tSpSp, tC3, tA9 = 18, 19, 20, 22, 24, 25
)

func TestEncodeTiny(t *testing.T) {
	tk := loadTiny(t)
	cases := []struct {
		name, text string
		want       []int
	}{
		{"empty", "", nil},
		{"merge without prefix", "the", []int{tT, tTe}},
		{"merge chain", " the", []int{tSpThe}},
		{"rank order", "abc", []int{tA, tBC}}, // "b c" ranks before "a b"
		{"single merge", "ab", []int{tAB}},
		{"leftmost among equal ranks", "   ", []int{tSpSp, tSp}},
		{"byte fallback", "é", []int{tC3, tA9}},
		{"unk", "ü", []int{tUnk}},
		{"fused unk", "üü", []int{tUnk}},
		{"unk around a token", "üaü", []int{tUnk, tA, tUnk}},
		{"raw added token", "a\nb", []int{tA, tNL, tB}},
		{"added tag", "<b>a", []int{tTagB, tA}},
		{"special token in text", "a<bos>", []int{tA, tBos}},
		{"normalized added token", "x y", []int{tXY}},
		{"normalized added token, raw form", "x▁y", []int{tXY}},
		{"invalid utf-8 becomes U+FFFD", "\xff", []int{tUnk}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := tk.Encode(c.text, false); !slices.Equal(got, c.want) {
				t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.want)
			}
			want := append([]int{tBos}, c.want...)
			if got := tk.Encode(c.text, true); !slices.Equal(got, want) {
				t.Errorf("Encode(%q, special) = %v, want %v", c.text, got, want)
			}
		})
	}
}

func TestSanaPromptTiny(t *testing.T) {
	tk := loadTiny(t)
	opts := PromptOptions{Instruction: []string{"a b"}, MaxSequenceLength: 4}
	// Instruction "a b" → <bos> a ▁ b: 4 tokens, so 4+4-2 = 6 positions.
	cases := []struct {
		prompt         string
		ids, mask      []int64
		selIDs, selMsk []int64
	}{
		{"  THE ", []int64{tBos, tA, tSp, tB, tT, tTe}, []int64{1, 1, 1, 1, 1, 1},
			[]int64{tBos, tB, tT, tTe}, []int64{1, 1, 1, 1}},
		{"", []int64{tBos, tA, tSp, tB, tPad, tPad}, []int64{1, 1, 1, 1, 0, 0},
			[]int64{tBos, tB, tPad, tPad}, []int64{1, 1, 0, 0}},
		{"the abab", []int64{tBos, tA, tSp, tB, tT, tTe}, []int64{1, 1, 1, 1, 1, 1},
			[]int64{tBos, tB, tT, tTe}, []int64{1, 1, 1, 1}},
	}
	for _, c := range cases {
		p, err := tk.EncodeSanaPrompt(c.prompt, opts)
		if err != nil {
			t.Fatal(err)
		}
		ids, mask := p.Selected()
		if !slices.Equal(p.InputIDs, c.ids) || !slices.Equal(p.AttentionMask, c.mask) ||
			!slices.Equal(ids, c.selIDs) || !slices.Equal(mask, c.selMsk) {
			t.Errorf("%q: got %v %v sel %v %v", c.prompt, p.InputIDs, p.AttentionMask, ids, mask)
		}
	}
	n, err := tk.EncodeSanaNegativePrompt(" AB ", opts)
	if err != nil {
		t.Fatal(err)
	}
	ids, mask := n.Selected()
	if !slices.Equal(ids, []int64{tBos, tAB, tPad, tPad}) || !slices.Equal(mask, []int64{1, 1, 0, 0}) {
		t.Errorf("negative: got %v %v", ids, mask)
	}
	if _, err := tk.EncodeSanaPrompt("a", PromptOptions{MaxSequenceLength: 1}); err == nil {
		t.Error("max sequence length 1 accepted")
	}
}

func TestPythonLower(t *testing.T) {
	cases := []struct{ in, want string }{
		{"ABC def", "abc def"},
		{"İstanbul", "i\u0307stanbul"},
		{"ΣΟΦΟΣ", "σοφος"},
		{"ΣΑ Σ", "σα σ"},                                   // lone sigma is not final
		{"ΑΣ'Β", "ασ'β"},                                   // case-ignorable then a letter: not final
		{"ΑΣ.", "ας."},                                     // followed by non-cased
		{"ǅungla ẞtraße KelvinK", "ǆungla ßtraße kelvink"}, // K is U+212A
		{"ÜMLAUTS äöü", "ümlauts äöü"},
	}
	for _, c := range cases {
		if got := pyLower(c.in); got != c.want {
			t.Errorf("pyLower(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPythonStrip(t *testing.T) {
	cases := []struct{ in, want string }{
		{"  a b  ", "a b"},
		{"\x1fx\x1c", "x"},
		{"\u3000\u00a0\u2003x\u2028\u0085", "x"},
		{"\u200bx\ufeff", "\u200bx\ufeff"}, // not whitespace in Python
		{"\t\n\v\f\r", ""},
	}
	for _, c := range cases {
		if got := pyStrip(c.in); got != c.want {
			t.Errorf("pyStrip(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	base, err := os.ReadFile(tinyPath)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, old, new, want string
	}{
		{"not json", `{`, `[`, "not a tokenizer.json"},
		{"model type", `"type": "BPE"`, `"type": "WordPiece"`, "model: type"},
		{"merge token", `"▁ t"`, `"▁ q"`, `merges[0]: token "q" not in vocab`},
		{"merge format", `"▁ t"`, `"▁t"`, "merges[0]"},
		{"merged token", `"l o"`, `"o l"`, `merges[7]: merged token "ol"`},
		{"unk", `"unk_token": "<unk>"`, `"unk_token": "<nope>"`, "unk_token"},
		{"normalizer", `"type": "Replace"`, `"type": "NFKC"`, "normalizer: type"},
		{"pre_tokenizer", `"pre_tokenizer": null`, `"pre_tokenizer": {"type": "Metaspace"}`, "pre_tokenizer"},
		{"added id", `"id": 0,`, `"id": -1,`, "added_tokens[0]"},
		{"added lstrip", `"lstrip": false`, `"lstrip": true`, "added_tokens[0]"},
		{"template", `"id": "<bos>",`, `"id": "<s>",`, "post_processor: single[0]"},
		{"vocab", `"vocab": {`, `"vocab": {}, "x": {`, "vocab"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := strings.Replace(string(base), c.old, c.new, 1)
			if s == string(base) {
				t.Fatalf("fixture does not contain %q", c.old)
			}
			_, err := Parse("bad.json", []byte(s))
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.json") {
				t.Errorf("error %v, want one naming bad.json and %q", err, c.want)
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "tokenizer.json")
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(missing) error %v, want one naming the file", err)
	}
}

func TestConcurrentEncode(t *testing.T) {
	tk := loadTiny(t)
	done := make(chan []int)
	for range 4 {
		go func() {
			var last []int
			for range 200 {
				last = tk.Encode(" the abc é\n<b>x y", true)
			}
			done <- last
		}()
	}
	first := <-done
	for range 3 {
		if got := <-done; !slices.Equal(got, first) {
			t.Fatalf("concurrent results differ: %v vs %v", got, first)
		}
	}
}

func TestMergePairFormat(t *testing.T) {
	base, err := os.ReadFile(tinyPath)
	if err != nil {
		t.Fatal(err)
	}
	// All merges as pairs (HF reads one format per list, as we do).
	s := string(base)
	for _, m := range []string{"▁ t", "h e", "▁t he", "b c", "a b", "ab c", "▁ ▁", "l o"} {
		a, b, _ := strings.Cut(m, " ")
		s = strings.Replace(s, `"`+m+`"`, `["`+a+`", "`+b+`"]`, 1)
	}
	tk, err := Parse("pairs.json", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string][]int{" the": {tSpThe}, "abc": {tA, tBC}} {
		if got := tk.Encode(text, false); !slices.Equal(got, want) {
			t.Errorf("pair-format merges: Encode(%q) = %v, want %v", text, got, want)
		}
	}
}
