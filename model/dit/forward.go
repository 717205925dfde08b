package dit

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/internal/nn"
)

// Model is a loaded transformer bound to a backend. Its methods may be
// called from several goroutines.
type Model struct {
	cfg Config
	w   *Weights
	be  kernels.Backend

	// scratch holds block temporaries between calls (scratch.go).
	scratch *scratchPool

	mu sync.Mutex // guards pe and peKey

	placeOnce sync.Once
	placeErr  error

	par   *parallel               // nil: single rank
	zeroT map[int]*kernels.Tensor // read-only zero tensors by element count (sequence parallel)

	// pe caches the sin-cos positional embedding of the last grid, in the
	// backend's memory: it depends only on (h, w, band), yet costs h·w·D
	// sin/cos on the host (≈ 37 M at 4K) — once per generation, not per step.
	peKey [4]int
	pe    *kernels.Tensor
}

// ready moves the weights into the backend's memory on first use (a no-op
// for the CPU backend), rounding the Linear matrices to bf16 first when
// the backend runs in kernels.PrecisionBF16. The model owns w from New on:
// a device backend replaces its host tensors with device ones.
func (m *Model) ready() error {
	m.placeOnce.Do(func() {
		if m.placeErr = nn.NarrowBF16(m.be, m.w.matrices()); m.placeErr == nil {
			m.placeErr = nn.Place(m.be, m.w)
		}
	})
	return m.placeErr
}

// New returns a model computing with be.
func New(cfg Config, w *Weights, be kernels.Backend) *Model {
	return &Model{cfg: cfg, w: w, be: be, scratch: newScratchPool()}
}

// Backend returns the backend the model computes with.
func (m *Model) Backend() kernels.Backend { return m.be }

// Config returns the model's config.
func (m *Model) Config() Config { return m.cfg }

// run records the first error of a sequence of backend calls, so forward
// code reads as the math; later calls after an error are skipped.
type run struct {
	be  kernels.Backend
	err error

	// ctx bounds the collectives of a parallel model.
	ctx context.Context

	// With sp set, alloc takes temporaries from that scratch pool and
	// release returns them: their contents are garbage, which is fine
	// because every op writes all of its destination.
	sp    *scratchPool
	taken []*kernels.Tensor
}

func (r *run) alloc(shape ...int) *kernels.Tensor { return r.allocDT(kernels.Float32, shape...) }

// allocDT is alloc of a tensor of dtype dt.
func (r *run) allocDT(dt kernels.DType, shape ...int) *kernels.Tensor {
	if r.err != nil {
		return nil
	}
	if r.sp != nil {
		if t := r.sp.get(dt, shape); t != nil {
			r.taken = append(r.taken, t)
			return t
		}
	}
	t, err := r.be.Alloc(dt, shape...)
	r.err = err
	if r.sp != nil && t != nil {
		r.taken = append(r.taken, t)
	}
	return t
}

// release returns scratch temporaries to their pool.
func (r *run) release() {
	if r.sp != nil {
		r.sp.put(r.taken)
		r.taken = nil
	}
}

func (r *run) do(f func() error) {
	if r.err == nil {
		r.err = f()
	}
}

func (r *run) linear(dst, x *kernels.Tensor, l linear) {
	r.do(func() error { return r.be.MatMul(dst, x, l.w, l.b) })
	if len(l.lora) > 0 {
		r.addLoRA(dst, x, l)
	}
}

// Forward predicts the flow velocity for latents x [B, C, h, w] (NCHW,
// Float32) at timesteps t (len B, already scaled by timestep_scale) and,
// for Sprint models, guidance values (len B, already multiplied by
// guidance_embeds_scale; nil otherwise). It returns [B, out_channels, h, w].
func (m *Model) Forward(ctx context.Context, x *kernels.Tensor, t, guidance []float32, cd *Cond) (*kernels.Tensor, error) {
	c := m.cfg
	if x == nil || x.Rank() != 4 || x.Dim(1) != c.InChannels {
		return nil, fmt.Errorf("dit: latents %v, want [B, %d, h, w]", x, c.InChannels)
	}
	B, h, w := x.Dim(0), x.Dim(2), x.Dim(3)
	switch {
	case cd == nil || cd.B != B:
		return nil, fmt.Errorf("dit: caption batch does not match latents batch %d", B)
	case len(t) != B:
		return nil, fmt.Errorf("dit: %d timesteps for batch %d", len(t), B)
	case c.GuidanceEmbeds && len(guidance) != B:
		return nil, fmt.Errorf("dit: model has guidance_embeds: need %d guidance values, got %d", B, len(guidance))
	}
	if err := m.checkRun("Forward", cd, B, h*w); err != nil {
		return nil, err
	}
	if m.sp() {
		return m.forwardBands(ctx, x, t, guidance, cd)
	}
	x, err := kernels.Upload(m.be, x)
	if err != nil {
		return nil, fmt.Errorf("dit: latents: %w", err)
	}
	r := &run{be: m.be, ctx: ctx}
	hid := m.embedPatches(r, x, h, w, 0)
	e, tmod := m.embedTime(r, t, guidance)
	return m.trunkAndFinal(ctx, r, hid, e, tmod, cd, h, w, nil)
}

// checkRun validates what a forward pass of B latents of N tokens needs
// beyond its inputs (a final layer, the PAG and ControlNet settings of cd)
// and places the weights; what names the caller in errors.
func (m *Model) checkRun(what string, cd *Cond, B, N int) error {
	if m.w.trunk {
		return fmt.Errorf("dit: %s on trunk weights (LoadTrunk) without a final layer", what)
	}
	if err := m.checkPAG(cd); err != nil {
		return err
	}
	if err := m.checkControl(cd, B, N); err != nil {
		return err
	}
	if err := m.ready(); err != nil {
		return fmt.Errorf("dit: %w", err)
	}
	return nil
}

// trunkAndFinal runs the blocks on hid and the final layer, the blocks
// drawing their temporaries from sp (nil: the model's scratch; a graph
// capture gives its own, step.go).
func (m *Model) trunkAndFinal(ctx context.Context, r *run, hid, e, tmod *kernels.Tensor, cd *Cond, h, w int, sp *scratchPool) (*kernels.Tensor, error) {
	for i := range m.w.blocks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if r.err == nil {
			r.err = m.runBlockWith(ctx, i, hid, tmod, cd, h, w, sp)
		}
		m.addControl(r, i, hid, cd)
	}
	out := m.finalLayer(r, hid, e, h, w)
	if r.err != nil {
		return nil, fmt.Errorf("dit: forward: %w", r.err)
	}
	return out, nil
}

// embedPatches maps NCHW latents x [B, C, rows, w] to tokens [B, rows·w,
// D] (+ sin-cos PE of an h×w grid, from row row0 on: a sequence-parallel
// band holds rows [row0, row0+rows) of the latent).
func (m *Model) embedPatches(r *run, x *kernels.Tensor, h, w, row0 int) *kernels.Tensor {
	var pe *kernels.Tensor
	if m.cfg.InterpolationScale != nil && r.err == nil {
		pe, r.err = m.posEmbed(h, w, row0, x.Dim(2)*w)
	}
	return m.embedPatchesPE(r, x, pe)
}

// embedPatchesPE is embedPatches with the positional embedding given (nil:
// none), so that it enqueues device work only.
func (m *Model) embedPatchesPE(r *run, x, pe *kernels.Tensor) *kernels.Tensor {
	c := m.cfg
	B, N, D := x.Dim(0), x.Dim(2)*x.Dim(3), c.Dim()
	tok := r.alloc(B, N, c.InChannels)
	r.do(func() error { return m.be.Transpose(tok, x.MustReshape(B, c.InChannels, N)) })
	hid := r.alloc(B, N, D)
	r.linear(hid, tok, m.w.patch)
	if pe != nil {
		r.do(func() error { return m.be.Add(hid, hid, pe) })
	}
	return hid
}

// posEmbed returns the PE rows [row0·w, row0·w + N) of an h×w grid,
// computed once per grid and kept in the backend's memory.
func (m *Model) posEmbed(h, w, row0, N int) (*kernels.Tensor, error) {
	key := [4]int{h, w, row0, N}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pe != nil && m.peKey == key {
		return m.pe, nil
	}
	full := sinCosPE(m.cfg.Dim(), h, w, m.cfg.SampleSize, *m.cfg.InterpolationScale)
	band, err := full.Slice(row0*w, row0*w+N)
	if err != nil {
		return nil, err
	}
	pe, err := kernels.Upload(m.be, band)
	if err != nil {
		return nil, err
	}
	m.pe, m.peKey = pe, key
	return pe, nil
}

// embedTime returns the embedded timestep e [B, D] and the block
// modulation vector tmod [B, 6D].
func (m *Model) embedTime(r *run, t, guidance []float32) (e, tmod *kernels.Tensor) {
	tv := m.uploadVals(r, t)
	var gv *kernels.Tensor
	if m.w.guideEmb != nil {
		gv = m.uploadVals(r, guidance)
	}
	return m.embedTimeDev(r, tv, gv)
}

// embedTimeDev is embedTime on timesteps tv [B] and guidance gv [B] (nil
// without guidance embeds) already in the backend's memory.
func (m *Model) embedTimeDev(r *run, tv, gv *kernels.Tensor) (e, tmod *kernels.Tensor) {
	D := m.cfg.Dim()
	B := tv.Dim(0)
	e = m.sinusoidMLP(r, tv, m.w.timeEmb)
	if m.w.guideEmb != nil {
		g := m.sinusoidMLP(r, gv, *m.w.guideEmb)
		r.do(func() error { return m.be.Add(e, e, g) })
	}
	se := r.alloc(B, D)
	r.do(func() error { return m.be.Activate(se, e, kernels.ActSiLU) })
	tmod = r.alloc(B, 6*D)
	r.linear(tmod, se, m.w.timeLinear)
	return e, tmod
}

// uploadVals copies vals to a new [len(vals)] tensor of the backend.
func (m *Model) uploadVals(r *run, vals []float32) *kernels.Tensor {
	tv := r.alloc(len(vals))
	r.do(func() error { return copyVals(m.be, tv, vals) })
	return tv
}

func (m *Model) sinusoidMLP(r *run, tv *kernels.Tensor, p mlp) *kernels.Tensor {
	B, D := tv.Dim(0), m.cfg.Dim()
	s := r.alloc(B, 256)
	r.do(func() error {
		return m.be.TimestepEmbedding(s, tv, kernels.TimestepParams{Dim: 256, FlipSinToCos: true})
	})
	h1, out := r.alloc(B, D), r.alloc(B, D)
	r.linear(h1, s, p.l1)
	r.do(func() error { return m.be.Activate(h1, h1, kernels.ActSiLU) })
	r.linear(out, h1, p.l2)
	return out
}

// sinCosPE is diffusers' 2-D sin-cos embedding for an h×w grid: grid
// coordinates in float32, frequencies and sin/cos in float64; the first
// half of the channels encodes the column (x), the second the row (y).
func sinCosPE(D, h, w, base int, scale float64) *kernels.Tensor {
	pe := kernels.MustNew(kernels.Float32, h*w, D)
	q := D / 4
	omega := make([]float64, q)
	for k := range omega {
		omega[k] = 1 / math.Pow(10000, float64(k)/float64(q))
	}
	coord := func(i, n int) float64 { // torch: arange/(n/base)/scale in float32
		return float64(float32(float32(i)/float32(float64(n)/float64(base))) / float32(scale))
	}
	d := pe.F32()
	for i := 0; i < h; i++ {
		for j := 0; j < w; j++ {
			row := d[(i*w+j)*D:]
			x, y := coord(j, w), coord(i, h)
			for k, om := range omega {
				row[k], row[q+k] = float32(math.Sin(x*om)), float32(math.Cos(x*om))
				row[2*q+k], row[3*q+k] = float32(math.Sin(y*om)), float32(math.Cos(y*om))
			}
		}
	}
	return pe
}

// RunBlock runs transformer block i in place on hid [B, h·w, D] with the
// modulation vector tmod [B, 6D] (exposed for benchmarks and for the
// parallel DiT, which schedules blocks itself).
func (m *Model) RunBlock(ctx context.Context, i int, hid, tmod *kernels.Tensor, cd *Cond, h, w int) error {
	if i < 0 || i >= len(m.w.blocks) {
		return fmt.Errorf("dit: block %d of %d", i, len(m.w.blocks))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.ready(); err != nil {
		return fmt.Errorf("dit: %w", err)
	}
	return m.runBlock(ctx, i, hid, tmod, cd, h, w)
}

func (m *Model) runBlock(ctx context.Context, i int, hid, tmod *kernels.Tensor, cd *Cond, h, w int) error {
	return m.runBlockWith(ctx, i, hid, tmod, cd, h, w, nil)
}

// runBlockWith is runBlock with its temporaries from sp (nil: the model's).
func (m *Model) runBlockWith(ctx context.Context, i int, hid, tmod *kernels.Tensor, cd *Cond, h, w int, sp *scratchPool) error {
	if sp == nil {
		sp = m.scratch
	}
	r := &run{be: m.be, sp: sp, ctx: ctx}
	defer r.release()
	m.block(r, i, hid, tmod, cd, h, w)
	return r.err
}
