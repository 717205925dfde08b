package nvlabs

import (
	"slices"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/pth"
	"github.com/sanafarm/sanafarm/model/weights"
)

const goldenPTH = "../../testdata/golden/nvlabs_checkpoint/checkpoint.pth"

// memSource is an in-memory NVlabs state dict.
type memSource map[string]*kernels.Tensor

func (s memSource) Names() []string {
	var out []string
	for n := range s {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (s memSource) Info(n string) (weights.Info, bool) {
	t, ok := s[n]
	if !ok {
		return weights.Info{}, false
	}
	return weights.Info{Name: n, DType: t.DType(), Raw: t.DType().String(), Shape: t.Shape(), End: int64(t.Len() * 4)}, true
}

func (s memSource) Tensor(n string) (*kernels.Tensor, error) { return s[n], nil }

func ramp(rows, cols int) *kernels.Tensor {
	t := kernels.MustNew(kernels.Float32, rows, cols)
	for i := range t.F32() {
		t.F32()[i] = float32(i)
	}
	return t
}

// TestRenames: the table of convert_sana_to_diffusers.py, both embedder
// layouts (Sana and Sprint).
func TestRenames(t *testing.T) {
	cases := []struct {
		from   string
		sprint bool
		to     []string
	}{
		{"x_embedder.proj.weight", false, []string{"patch_embed.proj.weight"}},
		{"y_embedder.y_proj.fc1.bias", false, []string{"caption_projection.linear_1.bias"}},
		{"y_embedder.y_proj.fc2.weight", false, []string{"caption_projection.linear_2.weight"}},
		{"t_embedder.mlp.0.weight", false, []string{"time_embed.emb.timestep_embedder.linear_1.weight"}},
		{"t_embedder.mlp.2.bias", false, []string{"time_embed.emb.timestep_embedder.linear_2.bias"}},
		{"t_embedder.mlp.0.weight", true, []string{"time_embed.timestep_embedder.linear_1.weight"}},
		{"cfg_embedder.mlp.2.weight", true, []string{"time_embed.guidance_embedder.linear_2.weight"}},
		{"t_block.1.weight", false, []string{"time_embed.linear.weight"}},
		{"attention_y_norm.weight", false, []string{"caption_norm.weight"}},
		{"final_layer.linear.bias", false, []string{"proj_out.bias"}},
		{"final_layer.scale_shift_table", false, []string{"scale_shift_table"}},
		{"blocks.11.scale_shift_table", false, []string{"transformer_blocks.11.scale_shift_table"}},
		{"blocks.0.attn.qkv.weight", false, []string{"transformer_blocks.0.attn1.to_q.weight",
			"transformer_blocks.0.attn1.to_k.weight", "transformer_blocks.0.attn1.to_v.weight"}},
		{"blocks.3.attn.q_norm.weight", false, []string{"transformer_blocks.3.attn1.norm_q.weight"}},
		{"blocks.3.attn.k_norm.weight", false, []string{"transformer_blocks.3.attn1.norm_k.weight"}},
		{"blocks.0.attn.proj.bias", false, []string{"transformer_blocks.0.attn1.to_out.0.bias"}},
		{"blocks.1.cross_attn.q_linear.weight", false, []string{"transformer_blocks.1.attn2.to_q.weight"}},
		{"blocks.1.cross_attn.kv_linear.bias", false, []string{"transformer_blocks.1.attn2.to_k.bias",
			"transformer_blocks.1.attn2.to_v.bias"}},
		{"blocks.1.cross_attn.q_norm.weight", false, []string{"transformer_blocks.1.attn2.norm_q.weight"}},
		{"blocks.1.cross_attn.k_norm.weight", false, []string{"transformer_blocks.1.attn2.norm_k.weight"}},
		{"blocks.1.cross_attn.proj.weight", false, []string{"transformer_blocks.1.attn2.to_out.0.weight"}},
		{"blocks.1.mlp.inverted_conv.conv.bias", false, []string{"transformer_blocks.1.ff.conv_inverted.bias"}},
		{"blocks.1.mlp.depth_conv.conv.weight", false, []string{"transformer_blocks.1.ff.conv_depth.weight"}},
		{"blocks.1.mlp.point_conv.conv.weight", false, []string{"transformer_blocks.1.ff.conv_point.weight"}},
	}
	for _, c := range cases {
		tp := "time_embed.emb.timestep_embedder."
		if c.sprint {
			tp = "time_embed.timestep_embedder."
		}
		got, err := rename(c.from, tp)
		if err != nil || !slices.Equal(got, c.to) {
			t.Errorf("%s (sprint %v) → %v %v, want %v", c.from, c.sprint, got, err, c.to)
		}
	}
	for _, bad := range []string{"blocks.x.attn.proj.weight", "blocks.0.attn.qkvx", "final_layer.scale_shift_tableX", "ema.x", "blocks.0"} {
		if got, err := rename(bad, "T."); err == nil {
			t.Errorf("%s → %v, want unknown", bad, got)
		}
	}
}

// TestSplitOrder: q, k, v are rows 0:D, D:2D, 2D:3D of attn.qkv and k, v
// the halves of cross_attn.kv_linear (a swapped order changes the golden
// output by 0.35 and 2.8, README of testdata/golden/nvlabs_checkpoint).
func TestSplitOrder(t *testing.T) {
	src := memSource{"blocks.0.attn.qkv.weight": ramp(6, 2), "blocks.0.cross_attn.kv_linear.weight": ramp(4, 2),
		"pos_embed": ramp(1, 1), "y_embedder.y_embedding": ramp(1, 1)}
	m, err := Map(src)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float32{"attn1.to_q": 0, "attn1.to_k": 4, "attn1.to_v": 8, "attn2.to_k": 0, "attn2.to_v": 4}
	for n, first := range want {
		x, err := m.Tensor("transformer_blocks.0." + n + ".weight")
		if err != nil {
			t.Fatal(err)
		}
		in, _ := m.Info("transformer_blocks.0." + n + ".weight")
		if x.F32()[0] != first || !slices.Equal(x.Shape(), []int{2, 2}) || !slices.Equal(in.Shape, x.Shape()) {
			t.Errorf("%s = %v %v (info %v), want first %v", n, x.Shape(), x.F32(), in.Shape, first)
		}
	}
	if d := m.Dropped(); !slices.Equal(d, []string{"pos_embed", "y_embedder.y_embedding"}) {
		t.Errorf("dropped %v", d)
	}
	if len(m.fused) != 0 {
		t.Errorf("fused tensors kept after every part was read: %v", m.fused)
	}
}

func TestMapErrors(t *testing.T) {
	cases := []struct {
		src  memSource
		want string
	}{
		{memSource{"ema.blocks.0.x": ramp(1, 1), "net.y": ramp(1, 1)}, "2 tensors with names the NVlabs→diffusers mapping does not know: ema.blocks.0.x, net.y"},
		{memSource{"blocks.0.attn.qkv.weight": ramp(4, 2)}, "blocks.0.attn.qkv.weight has shape [4 2], whose rows do not split in 3"},
	}
	for _, c := range cases {
		if _, err := Map(c.src); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

// TestGoldenNames: the golden .pth maps to exactly the 54 diffusers
// tensors of the 2-block model (48 NVlabs tensors, 2 dropped, 2 qkv → 6,
// 2 kv weights and 2 kv biases → 8).
func TestGoldenNames(t *testing.T) {
	p, err := pth.Open(goldenPTH)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m, err := Map(p)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m.Names()); n != 48-2+2*2+2*2 {
		t.Errorf("%d diffusers tensors, want 54: %v", n, m.Names())
	}
}

// TestUnread: names never read are listed (strict loading).
func TestUnread(t *testing.T) {
	m, err := Map(memSource{"blocks.0.attn.qkv.weight": ramp(6, 2), "blocks.0.attn.q_norm.weight": ramp(2, 1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"attn1.to_q", "attn1.to_k", "attn1.to_v"} {
		if _, err := m.Tensor("transformer_blocks.0." + n + ".weight"); err != nil {
			t.Fatal(err)
		}
	}
	if u := m.Unread(); !slices.Equal(u, []string{"transformer_blocks.0.attn1.norm_q.weight"}) {
		t.Errorf("unread %v", u)
	}
	if err := m.CheckAllRead("x.pth"); err == nil || !strings.Contains(err.Error(), "checkpoint x.pth: 1 tensors the configured model does not use") {
		t.Errorf("err %v", err)
	}
}
