package shard

import "github.com/sanafarm/sanafarm/model/dit"

// Traffic is what one parallel forward moves, summed over every rank of
// the group: payload bytes as Stats counts them (a broadcast counts once
// per receiver) and collectives per rank.
type Traffic struct {
	Bytes       int64
	Collectives int
}

func (t *Traffic) allReduce(n, d, e int) {
	t.Bytes += int64(2 * (d - 1) * n * e)
	t.Collectives++
}

func (t *Traffic) allGather(total, d, e int) {
	t.Bytes += int64((d - 1) * total * e)
	t.Collectives++
}

func (t *Traffic) exchange(row, d, e int) {
	t.Bytes += int64(2 * (d - 1) * row * e)
	t.Collectives++
}

// StepTraffic is the communication schedule of one forward of plan p
// (one denoising step; B counts both CFG branches) on an h×w latent, as
// the code issues it — TestStepTraffic checks it against the bytes the
// transports count — so the traffic of shapes too large to run here can
// be computed. PrepareCond (once per prompt) is not included: under TP
// with qk-norm it adds one all-reduce of B·T values per block.
func StepTraffic(c dit.Config, p Plan, B, h, w int, enc Encoding) Traffic {
	var t Traffic
	d, e, N, D := p.Degree, enc.size(), h*w, c.Dim()
	if d <= 1 {
		return t
	}
	for range c.NumLayers {
		switch p.Mode {
		case TP:
			if c.HasQKNorm() {
				t.allReduce(2*B*N, d, e)
			}
			t.allReduce(B*N*D, d, e)
			if c.HasQKNorm() {
				t.allReduce(B*N, d, e)
			}
			t.allReduce(B*N*D, d, e)
			t.allReduce(B*N*D, d, e)
			if chunks := max(1, min(4, B*N/64)); chunks > 1 {
				t.Collectives += 3 * (chunks - 1)
			}
		case SP:
			Dh := c.AttentionHeadDim
			t.allReduce(B*c.NumAttentionHeads*Dh*(Dh+1), d, e)
			t.exchange(B*w*D, d, e)
		}
	}
	switch p.Mode {
	case SP, CFG:
		t.allGather(B*c.Out()*N, d, e)
	}
	return t
}
