package tokenizer

import (
	"strings"
	"testing"
)

// longPrompt is a prose prompt of 495 Gemma tokens (one BPE piece).
var longPrompt = strings.Repeat("A breathtaking panoramic landscape of an ancient mountain village at golden hour, "+
	"with narrow cobblestone streets, glowing lanterns and mist rolling over the pine forests. ", 17)

func BenchmarkEncode500(b *testing.B) {
	tk := loadGemma(b)
	n := len(tk.Encode(longPrompt, true))
	b.ReportMetric(float64(n), "tokens")
	for b.Loop() {
		tk.Encode(longPrompt, true)
	}
}

// BenchmarkEncode500Uncached defeats the piece cache (one distinct
// prompt per iteration), measuring the BPE merge itself.
func BenchmarkEncode500Uncached(b *testing.B) {
	tk := loadGemma(b)
	i := 0
	for b.Loop() {
		i++
		tk.Encode(strings.Repeat("x", i%7)+longPrompt+string(rune('a'+i%26)), true)
		tk.mu.Lock()
		clear(tk.cache)
		tk.mu.Unlock()
	}
}

func BenchmarkSanaPrompt(b *testing.B) {
	tk := loadGemma(b)
	for b.Loop() {
		if _, err := tk.EncodeSanaPrompt("A Photo of an Astronaut riding a HORSE on Mars, 4K", DefaultPromptOptions()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	path := gemmaPath(b)
	for b.Loop() {
		if _, err := Load(path); err != nil {
			b.Fatal(err)
		}
	}
}
