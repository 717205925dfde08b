package gemma2

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/internal/nn"
)

// Model is a loaded Gemma2Model bound to a backend. Its methods may be
// called from several goroutines.
type Model struct {
	cfg Config
	w   *Weights
	be  kernels.Backend

	// free caches per-layer temporaries by [B, T] between calls (they are
	// shared by all layers of one call; a gemma-2-2b call at T = 300 needs
	// ~50 MB of them).
	mu   sync.Mutex
	free map[[2]int][]*scratch

	placeOnce sync.Once
	placeErr  error
}

// ready moves the weights into the backend's memory on first use (a no-op
// for the CPU backend), rounding the matrices and the embedding table to
// bf16 first when the backend runs in kernels.PrecisionBF16. The model owns
// w from New on: a device backend replaces its host tensors with device ones.
func (m *Model) ready() error {
	m.placeOnce.Do(func() {
		if m.placeErr = nn.NarrowBF16(m.be, m.w.matrices()); m.placeErr == nil {
			m.placeErr = nn.Place(m.be, m.w)
		}
	})
	return m.placeErr
}

// scratch holds the temporaries of one layer; every op writes all of its
// destination, so stale contents are harmless.
type scratch struct {
	x, q, k, v, o, gu, g *kernels.Tensor
}

// New returns a model computing with be.
func New(cfg Config, w *Weights, be kernels.Backend) *Model {
	return &Model{cfg: cfg, w: w, be: be, free: map[[2]int][]*scratch{}}
}

// Config returns the model's config.
func (m *Model) Config() Config { return m.cfg }

// Backend returns the backend the model computes with.
func (m *Model) Backend() kernels.Backend { return m.be }

// FreeScratch drops the cached temporaries.
func (m *Model) FreeScratch() {
	m.mu.Lock()
	m.free = map[[2]int][]*scratch{}
	m.mu.Unlock()
}

func (m *Model) takeScratch(r *run, B, T int) *scratch {
	m.mu.Lock()
	if l := m.free[[2]int{B, T}]; len(l) > 0 {
		s := l[len(l)-1]
		m.free[[2]int{B, T}] = l[:len(l)-1]
		m.mu.Unlock()
		return s
	}
	m.mu.Unlock()
	c := m.cfg
	return &scratch{
		x: r.alloc(B, T, c.HiddenSize), q: r.alloc(B, T, c.QDim()), k: r.alloc(B, T, c.KVDim()),
		v: r.alloc(B, T, c.KVDim()), o: r.alloc(B, T, c.QDim()),
		gu: r.alloc(B, T, 2*c.IntermediateSize), g: r.alloc(B, T, c.IntermediateSize),
	}
}

func (m *Model) putScratch(s *scratch, B, T int) {
	m.mu.Lock()
	m.free[[2]int{B, T}] = append(m.free[[2]int{B, T}], s)
	m.mu.Unlock()
}

// run records the first error of a sequence of backend calls, so forward
// code reads as the math; calls after an error are skipped.
type run struct {
	be  kernels.Backend
	err error
}

func (r *run) alloc(shape ...int) *kernels.Tensor {
	return r.allocT(kernels.Float32, shape...)
}

func (r *run) allocT(dt kernels.DType, shape ...int) *kernels.Tensor {
	if r.err != nil {
		return nil
	}
	t, err := r.be.Alloc(dt, shape...)
	r.err = err
	return t
}

func (r *run) do(f func() error) {
	if r.err == nil {
		r.err = f()
	}
}

func (r *run) linear(dst, x *kernels.Tensor, l linear) {
	r.do(func() error { return r.be.MatMul(dst, x, l.w, l.b) })
}

// upload copies a host tensor into a new tensor of the backend.
func (r *run) upload(h *kernels.Tensor) *kernels.Tensor {
	t := r.allocT(h.DType(), h.Shape()...)
	r.do(func() error { return r.be.Copy(t, h) })
	return t
}

// Encode runs the model on token ids [B, T] (Int64 or Int32, host) with an
// attention mask [B, T] (1 token, 0 padding; Int64, Int32 or Float32,
// host; nil means no padding) and returns last_hidden_state [B, T, hidden]
// (Float32, after the final norm) in the backend's memory. Positions are
// 0…T−1 in every row, as transformers uses without position_ids. Outputs
// at padded positions are computed but differ from transformers' eager
// attention where a padded query sees no real key (see README).
func (m *Model) Encode(ctx context.Context, ids, mask *kernels.Tensor) (*kernels.Tensor, error) {
	return m.encode(ctx, ids, mask, nil)
}

// hook, when set, sees the hidden state after the embedding
// ("embed_tokens"), each layer ("layers.<i>") and the final norm ("norm").
type hook func(name string, h *kernels.Tensor) error

func (m *Model) encode(ctx context.Context, ids, mask *kernels.Tensor, hk hook) (*kernels.Tensor, error) {
	bias, err := m.checkInputs(ids, mask)
	if err != nil {
		return nil, err
	}
	if err := m.ready(); err != nil {
		return nil, fmt.Errorf("gemma2: %w", err)
	}
	B, T := ids.Dim(0), ids.Dim(1)
	r := &run{be: m.be}
	h := r.alloc(B, T, m.cfg.HiddenSize)
	pos := r.upload(positions(T))
	var maskDev *kernels.Tensor
	if bias != nil {
		maskDev = r.upload(bias)
	}
	idsDev := r.upload(ids)
	r.do(func() error { return m.be.Embedding(h, m.w.embed, idsDev, m.embedScale()) })
	call := func(name string) {
		if hk != nil {
			r.do(func() error { return hk(name, h) })
		}
	}
	call("embed_tokens")
	s := m.takeScratch(r, B, T)
	for i := range m.w.layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m.layer(r, i, h, pos, maskDev, s)
		call(fmt.Sprintf("layers.%d", i))
	}
	r.do(func() error { return m.be.RMSNorm(h, h, m.w.norm, nil, m.normParams()) })
	call("norm")
	if r.err != nil {
		return nil, fmt.Errorf("gemma2: encode: %w", r.err)
	}
	m.putScratch(s, B, T)
	return h, nil
}

// embedScale is transformers' normalizer: hidden_size**0.5 cast to the
// model dtype (the embedding table's), e.g. exactly 48.0 for 2304 in bf16.
func (m *Model) embedScale() float32 {
	s := float32(math.Sqrt(float64(m.cfg.HiddenSize)))
	if dt := m.w.embed.DType(); dt.IsHalf() {
		s = kernels.HalfToF32(dt, kernels.F32ToHalf(dt, s))
	}
	return s
}

func (m *Model) normParams() kernels.NormParams {
	return kernels.NormParams{Eps: float32(m.cfg.RMSNormEps), AddOne: true}
}

// positions returns 0…T−1 as an Int64 [T] host tensor.
func positions(T int) *kernels.Tensor {
	p := kernels.MustNew(kernels.Int64, T)
	for i := range p.I64() {
		p.I64()[i] = int64(i)
	}
	return p
}

// layer runs Gemma2DecoderLayer i in place on h [B, T, hidden]:
// sandwich norms around attention and the GeGLU MLP.
func (m *Model) layer(r *run, i int, h, pos, mask *kernels.Tensor, s *scratch) {
	l, c, np := &m.w.layers[i], m.cfg, m.normParams()
	r.do(func() error { return m.be.RMSNorm(s.x, h, l.inNorm, nil, np) })
	r.linear(s.q, s.x, l.q)
	r.linear(s.k, s.x, l.k)
	r.linear(s.v, s.x, l.v)
	rp := kernels.RoPEParams{Heads: c.NumAttentionHeads, Theta: float32(c.Theta())}
	r.do(func() error { return m.be.RoPE(s.q, s.q, pos, rp) })
	rp.Heads = c.NumKeyValueHeads
	r.do(func() error { return m.be.RoPE(s.k, s.k, pos, rp) })
	// Eager attention: scale, soft-cap, then causal/window/padding masks.
	ap := kernels.AttnParams{Heads: c.NumAttentionHeads, KVHeads: c.NumKeyValueHeads, Scale: c.AttnScale(),
		SoftCap: c.SoftCap(), Causal: true, Window: c.Window(i)}
	r.do(func() error { return m.be.Attention(s.o, s.q, s.k, s.v, mask, ap) })
	r.linear(s.x, s.o, l.o)
	r.do(func() error { return m.be.RMSNorm(s.x, s.x, l.postAttnNorm, nil, np) })
	r.do(func() error { return m.be.Add(h, h, s.x) })

	r.do(func() error { return m.be.RMSNorm(s.x, h, l.preFFNorm, nil, np) })
	r.linear(s.gu, s.x, linear{w: l.gateUp})
	r.do(func() error { return m.be.GLU(s.g, s.gu, kernels.ActGELUTanh, true) })
	r.linear(s.x, s.g, linear{w: l.down})
	r.do(func() error { return m.be.RMSNorm(s.x, s.x, l.postFFNorm, nil, np) })
	r.do(func() error { return m.be.Add(h, h, s.x) })
}

// checkInputs validates ids and mask and returns the additive key mask
// [B, T] (nil when nothing is padded): 0 for tokens, finfo(float32).min
// for padding, as transformers' eager mask adds.
func (m *Model) checkInputs(ids, mask *kernels.Tensor) (*kernels.Tensor, error) {
	if ids == nil || ids.Rank() != 2 || ids.Dim(0) < 1 || ids.Dim(1) < 1 ||
		(ids.DType() != kernels.Int64 && ids.DType() != kernels.Int32) || !ids.OnHost() {
		return nil, fmt.Errorf("gemma2: input ids %v, want a host Int64 or Int32 [B, T] tensor with B, T ≥ 1", ids)
	}
	V := m.cfg.VocabSize
	for i := range ids.Len() {
		if id := ids.At(i); id < 0 || id >= float64(V) {
			return nil, fmt.Errorf("gemma2: input ids [%d, %d] element %d (row %d, position %d) = %v outside the vocabulary [0, %d)",
				ids.Dim(0), ids.Dim(1), i, i/ids.Dim(1), i%ids.Dim(1), id, V)
		}
	}
	if mask == nil {
		return nil, nil
	}
	if !mask.OnHost() || !kernels.SameShape(mask, ids) || !(mask.DType() == kernels.Int64 || mask.DType() == kernels.Int32 || mask.DType() == kernels.Float32) {
		return nil, fmt.Errorf("gemma2: attention mask %v, want a host Int64, Int32 or Float32 tensor shaped like input ids %v", mask, ids)
	}
	bias := kernels.MustNew(kernels.Float32, ids.Shape()...)
	padded := false
	for i := range mask.Len() {
		switch mask.At(i) {
		case 1:
		case 0:
			bias.F32()[i], padded = -math.MaxFloat32, true
		default:
			return nil, fmt.Errorf("gemma2: attention mask element %d = %v (want 0 or 1)", i, mask.At(i))
		}
	}
	if !padded {
		return nil, nil
	}
	return bias, nil
}
