package gemma2

import (
	"testing"
	"testing/fstest"

	"github.com/sanafarm/sanafarm/model/weights"
)

// FuzzReadConfig: a text_encoder/config.json from any repo never panics
// ReadConfig, and an accepted one has the bounded, consistent sizes Load
// and the forward pass rely on (weights.MaxLayers and the rest).
func FuzzReadConfig(f *testing.F) {
	f.Add([]byte(transformers4Config))
	f.Add([]byte(`{"model_type":"gemma2","num_hidden_layers":1099511627776}`))
	f.Add([]byte(`{"model_type":"gemma2","num_key_value_heads":0}`))
	f.Add([]byte(`{"model_type":"gemma2","num_attention_heads":4611686018427387904,"num_key_value_heads":2}`))
	f.Add([]byte(`{"model_type":"gemma2","rope_theta":NaN}`))
	f.Add([]byte(`{"model_type":"gemma2","layer_types":["sliding_attention"]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ReadConfig(fstest.MapFS{"config.json": {Data: data}}, "config.json")
		if err != nil {
			return
		}
		switch {
		case c.NumHiddenLayers < 0 || c.NumHiddenLayers > weights.MaxLayers:
			t.Fatalf("accepted %d layers", c.NumHiddenLayers)
		case c.HiddenSize < 1 || c.HiddenSize > weights.MaxWidth || c.IntermediateSize < 1 || c.IntermediateSize > weights.MaxWidth:
			t.Fatalf("accepted widths %d/%d", c.HiddenSize, c.IntermediateSize)
		case c.VocabSize < 1 || c.VocabSize > weights.MaxVocab:
			t.Fatalf("accepted vocabulary %d", c.VocabSize)
		case c.NumKeyValueHeads < 1 || c.NumAttentionHeads%c.NumKeyValueHeads != 0 || c.QDim() < 1 || c.KVDim() < 1:
			t.Fatalf("accepted heads %d/%d of %d", c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim)
		case c.HeadDim%2 != 0 || !(c.Theta() > 0) || !(c.RMSNormEps > 0) || !(c.QueryPreAttnScalar > 0):
			t.Fatalf("accepted head dim %d, theta %v, eps %v, scalar %v", c.HeadDim, c.Theta(), c.RMSNormEps, c.QueryPreAttnScalar)
		case c.LayerTypes != nil && len(c.LayerTypes) != c.NumHiddenLayers:
			t.Fatalf("accepted %d layer types for %d layers", len(c.LayerTypes), c.NumHiddenLayers)
		}
		for i := range c.NumHiddenLayers {
			if c.Window(i) < 0 {
				t.Fatalf("layer %d window %d", i, c.Window(i))
			}
		}
	})
}
