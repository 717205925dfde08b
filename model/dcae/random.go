package dcae

import (
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/internal/nn"
)

// RandomTensors returns deterministic random weights with every tensor
// name and shape the config requires (the golden cases' init: conv and
// linear weights N(0, 1/√fan_in), biases N(0, 0.2), norm weights
// 1 + N(0, 0.2)). Used by tests and benchmarks.
func RandomTensors(c Config, seed uint64) (map[string]*kernels.Tensor, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return nn.Random(specs(c), seed, 0xdcae), nil
}

// RandomWeights is RandomTensors bound as Weights.
func RandomWeights(c Config, seed uint64, parts Part) (*Weights, error) {
	ts, err := RandomTensors(c, seed)
	if err != nil {
		return nil, err
	}
	f, err := nn.MemFile(ts, "random")
	if err != nil {
		return nil, err
	}
	return Load(c, f, fmt.Sprintf("random(seed %d)", seed), parts)
}

type specList []nn.Spec

func (s *specList) add(name string, init nn.Init, shape ...int) {
	*s = append(*s, nn.S(name, shape, init))
}

func (s *specList) conv(p string, cout, cinG, k int, bias bool) {
	s.add(p+".weight", nn.Matrix, cout, cinG, k, k)
	if bias {
		s.add(p+".bias", nn.Bias, cout)
	}
}

func (s *specList) norm(p string, c int) {
	s.add(p+".weight", nn.Norm, c)
	s.add(p+".bias", nn.Bias, c)
}

// specs lists every tensor of both halves, mirroring bindEncoder/bindDecoder.
func specs(c Config) []nn.Spec {
	var s specList
	enc, dec := c.encoderStages(), c.decoderStages()
	n := len(enc)
	s.conv("encoder.conv_in", enc[0].channels, c.InChannels, 3, true)
	for i, sd := range enc {
		p := fmt.Sprintf("encoder.down_blocks.%d.", i)
		for j := range sd.layers {
			s.layer(c, sd, fmt.Sprintf("%s%d", p, j))
		}
		if i < n-1 {
			s.conv(fmt.Sprintf("%s%d.conv", p, sd.layers), enc[i+1].channels, sd.channels, 3, true)
		}
	}
	s.conv("encoder.conv_out", c.LatentChannels, enc[n-1].channels, 3, true)
	s.conv("decoder.conv_in", dec[n-1].channels, c.LatentChannels, 3, true)
	for i, sd := range dec {
		p := fmt.Sprintf("decoder.up_blocks.%d.", i)
		first := 0
		if i < n-1 {
			s.conv(p+"0.conv", sd.channels, dec[i+1].channels, 3, true)
			first = 1
		}
		for j := range sd.layers {
			s.layer(c, sd, fmt.Sprintf("%s%d", p, first+j))
		}
	}
	s.norm("decoder.norm_out", dec[0].channels)
	s.conv("decoder.conv_out", c.InChannels, dec[0].channels, 3, true)
	return s
}

func (s *specList) layer(c Config, sd stageDesc, p string) {
	C, Dh := sd.channels, c.AttentionHeadDim
	if sd.block == "ResBlock" {
		s.conv(p+".conv1", C, C, 3, true)
		s.conv(p+".conv2", C, C, 3, false)
		s.norm(p+".norm", C)
		return
	}
	for _, n := range []string{"to_q", "to_k", "to_v"} {
		s.add(p+".attn."+n+".weight", nn.Matrix, C, C)
	}
	for i, k := range sd.scales {
		mp := fmt.Sprintf("%s.attn.to_qkv_multiscale.%d.", p, i)
		s.conv(mp+"proj_in", 3*C, 1, k, false)
		s.conv(mp+"proj_out", 3*C, Dh, 1, false)
	}
	s.add(p+".attn.to_out.weight", nn.Matrix, C, C*(1+len(sd.scales)))
	s.norm(p+".attn.norm_out", C)
	s.conv(p+".conv_out.conv_inverted", 8*C, C, 1, true)
	s.conv(p+".conv_out.conv_depth", 8*C, 1, 3, true)
	s.conv(p+".conv_out.conv_point", C, 4*C, 1, false)
	s.norm(p+".conv_out.norm", C)
}
