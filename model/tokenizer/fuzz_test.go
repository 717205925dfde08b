package tokenizer

import (
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds arbitrary bytes to Parse: it must return a tokenizer or
// an error naming the file, never panic.
func FuzzParse(f *testing.F) {
	base, err := os.ReadFile(tinyPath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(base)
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a a"]}}`))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0, "aa": 1}, "merges": [["a", "a"]]}}`))
	f.Add([]byte(`{"model": null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tk, err := Parse("fuzz.json", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		tk.Encode("a b\n<b>é", true)
	})
}

// FuzzEncode checks Encode on arbitrary strings: no panic, ids in range,
// invalid UTF-8 read as U+FFFD per invalid byte.
func FuzzEncode(f *testing.F) {
	tk := loadTiny(f)
	for _, s := range []string{"", " the abc", "é\xff\xfe", "<b><bos>\n\nx y", "   ü", strings.Repeat("ab ", 50)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := tk.Encode(s, true)
		for _, id := range ids {
			if id < 0 || id >= tk.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
		}
		if !utf8.ValidString(s) && !slices.Equal(ids, tk.Encode(sanitize(s), true)) {
			t.Fatal("invalid UTF-8 not encoded as its U+FFFD form")
		}
		if _, err := tk.EncodeSanaPrompt(s, PromptOptions{Instruction: []string{"a b"}, MaxSequenceLength: 5}); err != nil {
			t.Fatal(err)
		}
	})
}
