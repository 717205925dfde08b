package sana

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/model/lora"
	"github.com/sanafarm/sanafarm/model/nvlabs"
	"github.com/sanafarm/sanafarm/model/weights"
)

// nvSource is an in-memory state dict with NVlabs names.
type nvSource map[string]*kernels.Tensor

func (s nvSource) Names() []string {
	var out []string
	for n := range s {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (s nvSource) Info(n string) (weights.Info, bool) {
	t, ok := s[n]
	if !ok {
		return weights.Info{}, false
	}
	return weights.Info{Name: n, DType: t.DType(), Raw: t.DType().String(), Shape: t.Shape(), End: int64(t.Len() * t.DType().Size())}, true
}

func (s nvSource) Tensor(n string) (*kernels.Tensor, error) { return s[n].Clone(), nil }

// toNVlabs writes a diffusers transformer state dict the way NVlabs'
// trainer holds it (the inverse of convert_sana_to_diffusers.py): q/k/v
// fused into attn.qkv, k/v into cross_attn.kv_linear.
func toNVlabs(t *testing.T, src *weights.File) nvSource {
	renames := []struct{ from, to string }{
		{"patch_embed.proj.", "x_embedder.proj."}, {"caption_projection.linear_1.", "y_embedder.y_proj.fc1."},
		{"caption_projection.linear_2.", "y_embedder.y_proj.fc2."}, {"time_embed.emb.timestep_embedder.linear_1.", "t_embedder.mlp.0."},
		{"time_embed.emb.timestep_embedder.linear_2.", "t_embedder.mlp.2."}, {"time_embed.linear.", "t_block.1."},
		{"caption_norm.", "attention_y_norm."}, {"proj_out.", "final_layer.linear."}, {"scale_shift_table", "final_layer.scale_shift_table"},
		{"attn1.to_out.0.", "attn.proj."}, {"attn2.to_q.", "cross_attn.q_linear."}, {"attn2.to_out.0.", "cross_attn.proj."},
		{"ff.conv_inverted.", "mlp.inverted_conv.conv."}, {"ff.conv_depth.", "mlp.depth_conv.conv."}, {"ff.conv_point.", "mlp.point_conv.conv."},
		{"attn1.norm_q.", "attn.q_norm."}, {"attn1.norm_k.", "attn.k_norm."}, {"attn2.norm_q.", "cross_attn.q_norm."}, {"attn2.norm_k.", "cross_attn.k_norm."},
	}
	out := nvSource{}
	fused := map[string][]string{}
	for _, n := range src.Header.Names() {
		x, err := src.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		name, block := n, ""
		if rest, ok := strings.CutPrefix(n, "transformer_blocks."); ok {
			i, r, _ := strings.Cut(rest, ".")
			name, block = r, "blocks."+i+"."
		}
		switch {
		case strings.HasPrefix(name, "attn1.to_") && !strings.HasPrefix(name, "attn1.to_out"):
			fused[block+"attn.qkv.weight"] = append(fused[block+"attn.qkv.weight"], n)
			continue
		case strings.HasPrefix(name, "attn2.to_k.") || strings.HasPrefix(name, "attn2.to_v."):
			k := block + "cross_attn.kv_linear." + name[len("attn2.to_k."):]
			fused[k] = append(fused[k], n)
			continue
		}
		for _, r := range renames {
			if rest, ok := strings.CutPrefix(name, r.from); ok && (block == "" || !strings.HasPrefix(r.to, "final_layer")) {
				name = r.to + rest
				break
			}
		}
		out[block+name] = x
	}
	for k, parts := range fused {
		slices.SortFunc(parts, func(a, b string) int { return strings.Compare(qkvOrder(a), qkvOrder(b)) })
		var data []float32
		var shape []int
		for _, p := range parts {
			x, _ := src.Tensor(p)
			f, _ := x.ToF32()
			data = append(data, f.F32()...)
			shape = slices.Clone(x.Shape())
		}
		shape[0] *= len(parts)
		out[k], _ = kernels.FromF32(data, shape...)
	}
	return out
}

func qkvOrder(n string) string {
	for i, s := range []string{".to_q.", ".to_k.", ".to_v."} {
		if strings.Contains(n, s) {
			return string(rune('0' + i))
		}
	}
	return n
}

func subFS(t *testing.T, fsys fs.FS, renames map[string]string) fs.FS {
	files := map[string][]byte{}
	for to, from := range renames {
		b, err := fs.ReadFile(fsys, from)
		if err != nil {
			t.Fatal(err)
		}
		files[to] = b
	}
	return mapFS(files)
}

// tinyNVlabs turns sana-tiny into NVlabsParts: its transformer as an
// NVlabs state dict, its VAE and text encoder as repo roots.
func tinyNVlabs(t *testing.T) (fs.FS, NVlabsParts) {
	files, err := tinyFiles(TinyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fsys := mapFS(files)
	tcfg, err := dit.ReadConfig(fsys, "transformer/config.json")
	if err != nil {
		t.Fatal(err)
	}
	wf, err := weights.Open(fsys, "transformer/diffusion_pytorch_model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer wf.Close()
	mapped, err := nvlabs.Map(toNVlabs(t, wf))
	if err != nil {
		t.Fatal(err)
	}
	cfg := nvlabs.Config{Model: "tiny", Transformer: tcfg, FlowShift: 3, Sampler: SamplerDPM,
		TextEncoder: nvlabs.TextEncoder{CHI: complexHumanInstruction, MaxLength: 300},
		VAE:         nvlabs.VAE{Repo: "tiny-vae", ScaleFactor: 0.41407}}
	return fsys, NVlabsParts{Config: cfg, Checkpoint: mapped,
		VAE: subFS(t, fsys, map[string]string{"config.json": "vae/config.json",
			"diffusion_pytorch_model.safetensors": "vae/diffusion_pytorch_model.safetensors"}),
		TextEncoder: subFS(t, fsys, map[string]string{"config.json": "text_encoder/config.json",
			"model.safetensors": "text_encoder/model.safetensors", "tokenizer.json": "tokenizer/tokenizer.json"})}
}

// TestLoadNVlabsMatchesDiffusers: sana-tiny loaded the NVlabs way (fused
// checkpoint, config-derived scheduler, VAE and text encoder from their
// own folders) renders the same pixels as the diffusers folder; a
// different chi_prompt changes them (the CHI comes from the config).
func TestLoadNVlabsMatchesDiffusers(t *testing.T) {
	fsys, parts := tinyNVlabs(t)
	opts := Options{Backend: cpu.New(cpu.Config{}), Tokenizer: LoadTokenizer}
	ref, err := Load(context.Background(), fsys, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	nv, err := LoadNVlabs(context.Background(), parts, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer nv.Close()
	req := Request{Prompts: []string{"a red fox"}, Width: 128, Height: 128, Steps: 2, Seed: 3, NoBinning: true}
	a, err := ref.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := nv.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Images[0].Image.Pix, b.Images[0].Image.Pix) {
		t.Fatal("NVlabs-loaded sana-tiny renders differently from the diffusers folder")
	}
	parts.Config.TextEncoder.CHI = []string{"Another instruction: "}
	other, err := LoadNVlabs(context.Background(), parts, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	c, err := other.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Images[0].Image.Pix, c.Images[0].Image.Pix) {
		t.Error("a different chi_prompt gave the same image")
	}
}

func TestLoadNVlabsErrors(t *testing.T) {
	_, parts := tinyNVlabs(t)
	opts := Options{Backend: cpu.New(cpu.Config{}), Tokenizer: LoadTokenizer}
	bad := parts
	bad.Config.VAE.ScaleFactor = 0.5
	if _, err := LoadNVlabs(context.Background(), bad, opts); err == nil || !strings.Contains(err.Error(), "vae.scale_factor = 0.5 but tiny-vae/config.json has scaling_factor 0.41407") {
		t.Errorf("scale factor: %v", err)
	}
	bad = parts
	bad.Config.Transformer.NumLayers++
	if _, err := LoadNVlabs(context.Background(), bad, opts); err == nil || !strings.Contains(err.Error(), "missing tensors") {
		t.Errorf("layers: %v", err)
	}
}

// TestLoadNVlabsLoRA: a LoRA is fused into an NVlabs checkpoint on the
// diffusers names exactly as into the diffusers folder (same pixels).
func TestLoadNVlabsLoRA(t *testing.T) {
	a, err := lora.Open(os.DirFS("../../testdata/golden/lora_sana"), "lora/pytorch_lora_weights.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	fsys, parts := tinyNVlabs(t)
	opts := Options{Backend: cpu.New(cpu.Config{}), Tokenizer: LoadTokenizer,
		LoRA: lora.Set{Adapters: []lora.Weighted{{Adapter: a, Weight: 0.8}}, Scale: 0.5}}
	req := Request{Prompts: []string{"a fox"}, Width: 64, Height: 64, Steps: 2, Seed: 3, NoBinning: true}
	var imgs []Image
	for _, load := range []func() (*Pipeline, error){
		func() (*Pipeline, error) { return Load(context.Background(), fsys, opts) },
		func() (*Pipeline, error) { return LoadNVlabs(context.Background(), parts, opts) },
	} {
		p, err := load()
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		res, err := p.Generate(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, res.Images[0])
	}
	if !bytes.Equal(imgs[0].Image.Pix, imgs[1].Image.Pix) || len(imgs[1].Params.LoRA) != 1 {
		t.Errorf("NVlabs+LoRA differs from diffusers+LoRA (params %+v)", imgs[1].Params.LoRA)
	}
}

// TestLoadNVlabsMaxLength: model_max_length is the default sequence length.
func TestLoadNVlabsMaxLength(t *testing.T) {
	_, parts := tinyNVlabs(t)
	parts.Config.TextEncoder.MaxLength = 120
	p, err := LoadNVlabs(context.Background(), parts, Options{Backend: cpu.New(cpu.Config{}), Tokenizer: LoadTokenizer})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for req, want := range map[int]int{0: 120, 77: 77} {
		q, err := p.defaults(Request{Prompts: []string{"x"}, MaxSequenceLength: req})
		if err != nil || q.MaxSequenceLength != want {
			t.Errorf("MaxSequenceLength %d → %d %v, want %d", req, q.MaxSequenceLength, err, want)
		}
	}
}
