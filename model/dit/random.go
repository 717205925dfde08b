package dit

import (
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/internal/nn"
)

// RandomTensors returns deterministic random weights with every tensor
// name and shape the config requires (the golden cases' init: matrices
// N(0, 1/√fan_in), biases and modulation tables N(0, 0.2), norm weights
// 1 + N(0, 0.2)). Used by benchmarks and the offline sana-tiny preset.
func RandomTensors(c Config, seed uint64) (map[string]*kernels.Tensor, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return nn.Random(specs(c), seed, 0x5a4a), nil
}

// RandomWeights is RandomTensors bound as Weights.
func RandomWeights(c Config, seed uint64) (*Weights, error) {
	ts, err := RandomTensors(c, seed)
	if err != nil {
		return nil, err
	}
	f, err := nn.MemFile(ts, "random")
	if err != nil {
		return nil, err
	}
	return Load(c, f, fmt.Sprintf("random(seed %d)", seed))
}

type spec = nn.Spec

func specs(c Config) []spec {
	D, H, Cin := c.Dim(), c.Hidden(), c.InChannels
	lin := func(p string, out, in int, bias bool) []spec {
		s := []spec{nn.S(p+".weight", []int{out, in}, nn.Matrix)}
		if bias {
			s = append(s, nn.S(p+".bias", []int{out}, nn.Bias))
		}
		return s
	}
	var s []spec
	s = append(s, nn.S("patch_embed.proj.weight", []int{D, Cin, 1, 1}, nn.Matrix), nn.S("patch_embed.proj.bias", []int{D}, nn.Bias))
	te := "time_embed.emb.timestep_embedder"
	if c.GuidanceEmbeds {
		te = "time_embed.timestep_embedder"
		s = append(s, lin("time_embed.guidance_embedder.linear_1", D, 256, true)...)
		s = append(s, lin("time_embed.guidance_embedder.linear_2", D, D, true)...)
	}
	s = append(s, lin(te+".linear_1", D, 256, true)...)
	s = append(s, lin(te+".linear_2", D, D, true)...)
	s = append(s, lin("time_embed.linear", 6*D, D, true)...)
	s = append(s, lin("caption_projection.linear_1", D, c.CaptionChannels, true)...)
	s = append(s, lin("caption_projection.linear_2", D, D, true)...)
	s = append(s, nn.S("caption_norm.weight", []int{D}, nn.Norm), nn.S("scale_shift_table", []int{2, D}, nn.Bias))
	s = append(s, lin("proj_out", c.Out(), D, true)...)
	for i := 0; i < c.NumLayers; i++ {
		p := fmt.Sprintf("transformer_blocks.%d.", i)
		s = append(s, nn.S(p+"scale_shift_table", []int{6, D}, nn.Bias))
		for _, n := range []string{"attn1.to_q", "attn1.to_k", "attn1.to_v"} {
			s = append(s, lin(p+n, D, D, false)...)
		}
		for _, n := range []string{"attn1.to_out.0", "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0"} {
			s = append(s, lin(p+n, D, D, true)...)
		}
		s = append(s, nn.S(p+"ff.conv_inverted.weight", []int{2 * H, D, 1, 1}, nn.Matrix), nn.S(p+"ff.conv_inverted.bias", []int{2 * H}, nn.Bias),
			nn.S(p+"ff.conv_depth.weight", []int{2 * H, 1, 3, 3}, nn.Matrix), nn.S(p+"ff.conv_depth.bias", []int{2 * H}, nn.Bias),
			nn.S(p+"ff.conv_point.weight", []int{D, H, 1, 1}, nn.Matrix))
		if c.HasQKNorm() {
			for _, n := range []string{"attn1.norm_q", "attn1.norm_k", "attn2.norm_q", "attn2.norm_k"} {
				s = append(s, nn.S(p+n+".weight", []int{D}, nn.Norm))
			}
		}
	}
	return s
}
