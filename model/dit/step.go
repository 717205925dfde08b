package dit

import (
	"context"
	"errors"
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
)

// graphCapturer is a backend that records work into replayable graphs
// (kernels/cuda/graph.go with --cuda-graphs; kernels/kernelstest.Recorder).
type graphCapturer interface {
	CaptureGraph(fn func() error) (kernels.Graph, error)
}

// graphSwitch is a capturer that says whether capturing is enabled
// (cuda.Backend: Config.Graphs).
type graphSwitch interface {
	GraphsEnabled() bool
}

// Why a Step runs eagerly when nothing went wrong (StepStats.Why): the
// backend records no graphs, or recording is switched off. Any other
// reason is a capture that failed.
var (
	ErrNoGraphs  = errors.New("dit: the backend records no graphs")
	ErrGraphsOff = errors.New("dit: graph capture is off on this backend (--cuda-graphs)")
	// ErrOpByOp: parallel ranks exchange activations through the host
	// every block, and a ControlNet condition changes every step.
	ErrOpByOp = errors.New("dit: this loop runs op by op (parallel transformer or ControlNet)")
)

// CaptureFailed reports whether why (StepStats.Why) is a capture that
// failed rather than one of the expected reasons to run eagerly.
func CaptureFailed(why error) bool {
	return why != nil && !errors.Is(why, ErrNoGraphs) && !errors.Is(why, ErrGraphsOff) && !errors.Is(why, ErrOpByOp)
}

// StepStats counts how a Step's calls ran: replays of its graph, and
// eager forward passes (the first call, or all of them when Why is set).
type StepStats struct {
	Replays, Eager int
	Why            error
}

// Step is the transformer bound to one denoising loop: a fixed batch,
// latent grid and caption condition, with its inputs in fixed buffers of
// the backend. On a backend that records graphs, its second call captures
// the forward pass into a graph and every later call replays it — one
// launch per step instead of ~1,000 (docs/performance.md, "Launch
// overhead"); elsewhere, or when the capture fails, it runs the forward
// pass as Forward does, with the same result. A Step belongs to one
// goroutine; Close it when the loop ends.
type Step struct {
	m       *Model
	cd      *Cond
	B, h, w int
	x, t, g *kernels.Tensor // inputs, refreshed in place on every call
	pe      *kernels.Tensor // the grid's positional embedding (nil: none)
	direct  bool            // sequence parallel: every call is a Forward

	graph kernels.Graph
	out   *kernels.Tensor // the graph's output buffer
	// priv holds the block temporaries the graph recorded work on: the
	// model's cached ones, taken over for the capture, and any the capture
	// added. No other forward may use them while replays write them; Close
	// gives them back to the model.
	priv           *scratchPool
	calls, replays int
	why            error // why calls run eagerly; nil while a capture may still be tried
}

// NewStep binds the model to B latents of h×w and the caption condition
// cd (which must stay unchanged while the Step is used).
func (m *Model) NewStep(ctx context.Context, cd *Cond, B, h, w int) (*Step, error) {
	c := m.cfg
	switch {
	case B < 1 || h < 1 || w < 1:
		return nil, fmt.Errorf("dit: step for %d latents of %d×%d", B, h, w)
	case cd == nil || cd.B != B:
		return nil, fmt.Errorf("dit: caption batch does not match latents batch %d", B)
	}
	if err := m.checkRun("step", cd, B, h*w); err != nil {
		return nil, err
	}
	s := &Step{m: m, cd: cd, B: B, h: h, w: w}
	if m.par != nil || len(cd.control) > 0 {
		// A parallel rank exchanges activations through the host every
		// block (nothing to record), and a ControlNet condition changes
		// every step.
		s.direct, s.why = true, ErrOpByOp
		return s, nil
	}
	var err error
	if s.x, err = m.be.Alloc(kernels.Float32, B, c.InChannels, h, w); err == nil {
		s.t, err = m.be.Alloc(kernels.Float32, B)
	}
	if err == nil && m.w.guideEmb != nil {
		s.g, err = m.be.Alloc(kernels.Float32, B)
	}
	if err == nil && c.InterpolationScale != nil {
		s.pe, err = m.posEmbed(h, w, 0, h*w)
	}
	if err != nil {
		return nil, fmt.Errorf("dit: step buffers: %w", err)
	}
	if _, ok := m.be.(graphCapturer); !ok {
		s.why = fmt.Errorf("%w (%s)", ErrNoGraphs, m.be.Name())
	} else if sw, ok := m.be.(graphSwitch); ok && !sw.GraphsEnabled() {
		s.why = ErrGraphsOff
	}
	return s, nil
}

// Forward is Model.Forward of the bound condition: latents x [B, C, h, w]
// (host, Float32), timesteps t and, for Sprint models, guidance (len B).
// The result is valid until the next call.
func (s *Step) Forward(ctx context.Context, x *kernels.Tensor, t, guidance []float32) (*kernels.Tensor, error) {
	if s.direct {
		s.calls++
		return s.m.Forward(ctx, x, t, guidance, s.cd)
	}
	if err := s.load(x, t, guidance); err != nil {
		return nil, err
	}
	s.calls++
	if s.graph == nil && s.why == nil && s.calls > 1 {
		s.capture(ctx)
	}
	if s.graph != nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.graph.Replay(); err != nil {
			return nil, fmt.Errorf("dit: step replay: %w", err)
		}
		s.replays++
		return s.out, nil
	}
	return s.run(ctx, nil)
}

// load copies the inputs into the step's buffers.
func (s *Step) load(x *kernels.Tensor, t, guidance []float32) error {
	c := s.m.cfg
	switch {
	case x == nil || !kernels.SameShape(x, s.x):
		return fmt.Errorf("dit: step latents %v, want [%d %d %d %d]", x, s.B, c.InChannels, s.h, s.w)
	case len(t) != s.B:
		return fmt.Errorf("dit: %d timesteps for batch %d", len(t), s.B)
	case s.g != nil && len(guidance) != s.B:
		return fmt.Errorf("dit: model has guidance_embeds: need %d guidance values, got %d", s.B, len(guidance))
	}
	if err := s.m.be.Copy(s.x, x); err != nil {
		return fmt.Errorf("dit: step latents: %w", err)
	}
	if err := copyVals(s.m.be, s.t, t); err != nil {
		return fmt.Errorf("dit: step timesteps: %w", err)
	}
	if s.g != nil {
		if err := copyVals(s.m.be, s.g, guidance); err != nil {
			return fmt.Errorf("dit: step guidance: %w", err)
		}
	}
	return nil
}

func copyVals(be kernels.Backend, dst *kernels.Tensor, vals []float32) error {
	host, err := kernels.FromF32(append([]float32(nil), vals...), len(vals))
	if err != nil {
		return err
	}
	return be.Copy(dst, host)
}

// run enqueues one forward pass on the step's buffers: device work only,
// so that it can be recorded. The blocks' temporaries come from sp (nil:
// the model's scratch).
func (s *Step) run(ctx context.Context, sp *scratchPool) (*kernels.Tensor, error) {
	m := s.m
	r := &run{be: m.be, ctx: ctx}
	hid := m.embedPatchesPE(r, s.x, s.pe)
	e, tmod := m.embedTimeDev(r, s.t, s.g)
	return m.trunkAndFinal(ctx, r, hid, e, tmod, s.cd, s.h, s.w, sp)
}

// capture records one forward pass into a graph; on failure every later
// call runs eagerly and Graphed says why.
func (s *Step) capture(ctx context.Context) {
	gc := s.m.be.(graphCapturer)
	priv := newScratchPool()
	s.m.scratch.moveTo(priv) // reuse what the eager steps cached, without a second copy
	var out *kernels.Tensor
	g, err := gc.CaptureGraph(func() error {
		var err error
		out, err = s.run(ctx, priv)
		return err
	})
	if err != nil {
		priv.moveTo(s.m.scratch)
		s.why = err
		return
	}
	s.graph, s.out, s.priv = g, out, priv
}

// Graphed reports whether calls replay a graph, and if not, why.
func (s *Step) Graphed() (bool, error) { return s.graph != nil, s.why }

// Stats counts the calls so far by how they ran.
func (s *Step) Stats() StepStats {
	return StepStats{Replays: s.replays, Eager: s.calls - s.replays, Why: s.why}
}

// Close frees the graph and gives its temporaries back to the model (work
// enqueued later runs after every replay: stream order).
func (s *Step) Close() error {
	var err error
	if s.graph != nil {
		err = s.graph.Close()
	}
	if s.priv != nil {
		s.priv.moveTo(s.m.scratch)
	}
	s.graph, s.out, s.priv, s.x, s.t, s.g, s.pe = nil, nil, nil, nil, nil, nil, nil
	return err
}
