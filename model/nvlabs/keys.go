// Package nvlabs reads what users of the original NVlabs/Sana code hold:
// the trainer's checkpoints (.pth state dicts with NVlabs parameter names,
// mapped here to the diffusers names model/dit binds) and the YAML
// configs (configs/sana_config/...), mapped to our model configs.
package nvlabs

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/weights"
)

// Source is a checkpoint with NVlabs names (a *pth.File).
type Source interface {
	weights.Source
	Names() []string
}

// part is where a diffusers tensor comes from: rows [k·n/parts, (k+1)·n/parts)
// of an NVlabs tensor (parts = 1: all of it).
type part struct {
	src      string
	k, parts int
}

// Mapped is a weights.Source with diffusers names over an NVlabs state
// dict, as diffusers' scripts/convert_sana_to_diffusers.py maps it: fused
// attn.qkv split in three (q, k, v) and cross_attn.kv_linear in two (k, v)
// along the output rows. Splits are views of one read of the fused tensor.
type Mapped struct {
	src     Source
	parts   map[string]part
	dropped []string

	mu      sync.Mutex
	fused   map[string]*kernels.Tensor // read fused tensors not yet fully handed out
	pending map[string]int
	read    map[string]bool // diffusers names handed out by Tensor
}

// dropped are NVlabs tensors diffusers does not keep: the unconditional
// caption embedding (CFG uses an empty prompt), the learned or sinusoidal
// position table (recomputed), and Sprint's logvar head.
func isDropped(n string) bool {
	return n == "y_embedder.y_embedding" || n == "pos_embed" || strings.HasPrefix(n, "logvar_linear.")
}

// topLevel are the renames outside the blocks; "T" stands for the
// timestep embedder's diffusers prefix (Sprint has no "emb." level).
var topLevel = []struct{ from, to string }{
	{"x_embedder.proj.", "patch_embed.proj."},
	{"y_embedder.y_proj.fc1.", "caption_projection.linear_1."},
	{"y_embedder.y_proj.fc2.", "caption_projection.linear_2."},
	{"t_embedder.mlp.0.", "T.linear_1."},
	{"t_embedder.mlp.2.", "T.linear_2."},
	{"cfg_embedder.mlp.0.", "time_embed.guidance_embedder.linear_1."},
	{"cfg_embedder.mlp.2.", "time_embed.guidance_embedder.linear_2."},
	{"t_block.1.", "time_embed.linear."},
	{"attention_y_norm.weight", "caption_norm.weight"},
	{"final_layer.linear.", "proj_out."},
	{"final_layer.scale_shift_table", "scale_shift_table"},
}

// inBlock are the renames inside blocks.{i}; a name with parts > 1 is
// split along rows into the listed targets in order.
var inBlock = []struct {
	from string
	to   []string
}{
	{"scale_shift_table", []string{"scale_shift_table"}},
	{"attn.qkv.", []string{"attn1.to_q.", "attn1.to_k.", "attn1.to_v."}},
	{"attn.q_norm.", []string{"attn1.norm_q."}},
	{"attn.k_norm.", []string{"attn1.norm_k."}},
	{"attn.proj.", []string{"attn1.to_out.0."}},
	{"cross_attn.q_linear.", []string{"attn2.to_q."}},
	{"cross_attn.kv_linear.", []string{"attn2.to_k.", "attn2.to_v."}},
	{"cross_attn.q_norm.", []string{"attn2.norm_q."}},
	{"cross_attn.k_norm.", []string{"attn2.norm_k."}},
	{"cross_attn.proj.", []string{"attn2.to_out.0."}},
	{"mlp.inverted_conv.conv.", []string{"ff.conv_inverted."}},
	{"mlp.depth_conv.conv.", []string{"ff.conv_depth."}},
	{"mlp.point_conv.conv.", []string{"ff.conv_point."}},
}

// Map renames every tensor of src; a name it does not know is an error
// (listing all of them), never silently skipped.
func Map(src Source) (*Mapped, error) {
	m := &Mapped{src: src, parts: map[string]part{}, fused: map[string]*kernels.Tensor{}, pending: map[string]int{},
		read: map[string]bool{}}
	tprefix := "time_embed.emb.timestep_embedder."
	for _, n := range src.Names() {
		if strings.HasPrefix(n, "cfg_embedder.") { // Sana-Sprint layout
			tprefix = "time_embed.timestep_embedder."
		}
	}
	var unknown []string
	for _, n := range src.Names() {
		if isDropped(n) {
			m.dropped = append(m.dropped, n)
			continue
		}
		targets, err := rename(n, tprefix)
		if err != nil {
			unknown = append(unknown, n)
			continue
		}
		if err := m.add(n, targets); err != nil {
			return nil, err
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("nvlabs checkpoint: %d tensors with names the NVlabs→diffusers mapping does not know: %s",
			len(unknown), strings.Join(unknown, ", "))
	}
	return m, nil
}

func (m *Mapped) add(n string, targets []string) error {
	in, _ := m.src.Info(n)
	if len(targets) > 1 && (len(in.Shape) == 0 || in.Shape[0]%len(targets) != 0) {
		return fmt.Errorf("nvlabs checkpoint: %s has shape %v, whose rows do not split in %d", n, in.Shape, len(targets))
	}
	for k, t := range targets {
		if prev, dup := m.parts[t]; dup {
			return fmt.Errorf("nvlabs checkpoint: %s and %s both map to %s", prev.src, n, t)
		}
		m.parts[t] = part{src: n, k: k, parts: len(targets)}
	}
	return nil
}

// rename returns the diffusers name(s) of an NVlabs tensor.
func rename(n, tprefix string) ([]string, error) {
	for _, r := range topLevel {
		if rest, ok := strings.CutPrefix(n, r.from); ok && (rest == "" || strings.HasSuffix(r.from, ".")) {
			return []string{strings.Replace(r.to, "T.", tprefix, 1) + rest}, nil
		}
	}
	rest, ok := strings.CutPrefix(n, "blocks.")
	idx, inner, ok2 := strings.Cut(rest, ".")
	if _, err := strconv.Atoi(idx); !ok || !ok2 || err != nil {
		return nil, fmt.Errorf("unknown")
	}
	for _, r := range inBlock {
		tail, ok := strings.CutPrefix(inner, r.from)
		if !ok || (tail != "" && !strings.HasSuffix(r.from, ".")) {
			continue
		}
		out := make([]string, len(r.to))
		for i, to := range r.to {
			out[i] = "transformer_blocks." + idx + "." + to + tail
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown")
}

// Names lists the diffusers names, sorted.
func (m *Mapped) Names() []string {
	out := make([]string, 0, len(m.parts))
	for n := range m.parts {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Unread lists the diffusers names no Tensor call asked for: after a
// model is bound, tensors of the checkpoint that the config's model does
// not have (diffusers' load_state_dict(strict=True) refuses those too).
func (m *Mapped) Unread() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, n := range m.Names() {
		if !m.read[n] {
			out = append(out, n)
		}
	}
	return out
}

// CheckAllRead is Unread as an error naming every unused tensor (origin
// names the checkpoint).
func (m *Mapped) CheckAllRead(origin string) error {
	if u := m.Unread(); len(u) > 0 {
		return fmt.Errorf("checkpoint %s: %d tensors the configured model does not use (a config that does not match the checkpoint, e.g. qk_norm): %s",
			origin, len(u), strings.Join(u, ", "))
	}
	return nil
}

// Dropped lists the NVlabs tensors present but not used (see isDropped).
func (m *Mapped) Dropped() []string { return m.dropped }

// Info describes a diffusers tensor (a split one has 1/parts of the rows).
func (m *Mapped) Info(name string) (weights.Info, bool) {
	p, ok := m.parts[name]
	if !ok {
		return weights.Info{}, false
	}
	in, ok := m.src.Info(p.src)
	if !ok {
		return weights.Info{}, false
	}
	in.Name = name
	if p.parts > 1 {
		in.Shape = append([]int(nil), in.Shape...)
		in.Shape[0] /= p.parts
		size := (in.End - in.Begin) / int64(p.parts)
		in.Begin += int64(p.k) * size
		in.End = in.Begin + size
	}
	return in, true
}

// Tensor reads a diffusers tensor; the parts of a fused tensor are views
// of one read, which is released once every part was handed out.
func (m *Mapped) Tensor(name string) (*kernels.Tensor, error) {
	p, ok := m.parts[name]
	if !ok {
		return nil, fmt.Errorf("nvlabs checkpoint: no tensor %q", name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.read[name] = true
	if p.parts == 1 {
		return m.src.Tensor(p.src)
	}
	full, ok := m.fused[p.src]
	if !ok {
		var err error
		if full, err = m.src.Tensor(p.src); err != nil {
			return nil, err
		}
		m.fused[p.src], m.pending[p.src] = full, p.parts
	}
	if m.pending[p.src]--; m.pending[p.src] <= 0 {
		delete(m.fused, p.src)
		delete(m.pending, p.src)
	}
	rows := full.Dim(0) / p.parts
	return full.Slice(p.k*rows, (p.k+1)*rows)
}
