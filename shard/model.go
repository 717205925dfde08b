package shard

import (
	"context"
	"fmt"
	"strconv"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/model/dit"
	"github.com/sanafarm/sanafarm/protocol"
)

// Mode is a way of splitting a DiT forward over ranks.
type Mode uint8

// Modes, as the --parallel flag spells them.
const (
	TP  Mode = iota + 1 // tensor parallel: heads and FFN channels
	SP                  // sequence parallel: bands of latent rows
	CFG                 // the batch halves (CFG branches) on different ranks
)

// String names the mode ("tp", "sp", "cfg").
func (m Mode) String() string {
	switch m {
	case TP:
		return "tp"
	case SP:
		return "sp"
	case CFG:
		return "cfg"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// Plan is a parallel layout: a mode and its degree (number of ranks).
type Plan struct {
	Mode   Mode
	Degree int
}

// String is the flag spelling, e.g. "sp:4".
func (p Plan) String() string { return fmt.Sprintf("%v:%d", p.Mode, p.Degree) }

// ParsePlan reads "tp:d", "sp:d" (d = 2..8) or "cfg:2", with the rules
// of protocol.ParseParallel (what a job's --parallel accepts).
func ParsePlan(s string) (Plan, error) {
	p, err := protocol.ParseParallel(s)
	if err != nil {
		return Plan{}, fmt.Errorf("shard: %w", err)
	}
	for _, m := range []Mode{TP, SP, CFG} {
		if m.String() == p.Mode {
			return Plan{Mode: m, Degree: p.Degree}, nil
		}
	}
	return Plan{}, fmt.Errorf("shard: parallel mode %q, want tp, sp or cfg", p.Mode)
}

// Check reports whether the plan fits a transformer config.
func (p Plan) Check(c dit.Config) error {
	switch p.Mode {
	case TP:
		return dit.CheckTensorParallel(c, p.Degree)
	case SP, CFG:
		if p.Degree < 1 {
			return fmt.Errorf("shard: degree %d", p.Degree)
		}
		return nil
	}
	return fmt.Errorf("shard: unknown mode %v", p.Mode)
}

// Denoiser is what a rank's denoising loop calls; it matches
// sana.Transformer (and *dit.Model).
type Denoiser interface {
	Config() dit.Config
	Backend() kernels.Backend
	PrepareCond(ctx context.Context, enc, mask *kernels.Tensor) (*dit.Cond, error)
	Forward(ctx context.Context, x *kernels.Tensor, t, guidance []float32, cd *dit.Cond) (*kernels.Tensor, error)
}

// NewModel returns this rank's part of the transformer for mode over t
// (t.Size() ranks). w are the full weights as dit.Load returns them; for
// TP they are sharded here, so each rank keeps about 1/d of the block
// weights once the full set is dropped. Every rank must then make the same
// PrepareCond and Forward calls with the same arguments; each returns the
// whole result on every rank. A failing call aborts the group, so the
// other ranks fail too instead of waiting.
func NewModel(mode Mode, cfg dit.Config, w *dit.Weights, be kernels.Backend, t Transport) (Denoiser, error) {
	var (
		inner Denoiser
		err   error
	)
	switch mode {
	case TP:
		inner, err = dit.NewParallel(cfg, w, be, t, dit.TensorParallel)
	case SP:
		inner, err = dit.NewParallel(cfg, w, be, t, dit.SequenceParallel)
	case CFG:
		inner = &batchSplit{m: dit.New(cfg, w, be), t: t}
	default:
		err = fmt.Errorf("shard: unknown mode %v", mode)
	}
	if err != nil {
		return nil, err
	}
	return &model{Denoiser: inner, t: t}, nil
}

// model aborts the group when a call fails on this rank.
type model struct {
	Denoiser
	t Transport
}

func (m *model) PrepareCond(ctx context.Context, enc, mask *kernels.Tensor) (*dit.Cond, error) {
	cd, err := m.Denoiser.PrepareCond(ctx, enc, mask)
	if err != nil {
		m.t.Abort(err)
		return nil, fmt.Errorf("shard: rank %d: %w", m.t.Rank(), err)
	}
	return cd, nil
}

func (m *model) Forward(ctx context.Context, x *kernels.Tensor, ts, guidance []float32, cd *dit.Cond) (*kernels.Tensor, error) {
	out, err := m.Denoiser.Forward(ctx, x, ts, guidance, cd)
	if err != nil {
		m.t.Abort(err)
		return nil, fmt.Errorf("shard: rank %d: %w", m.t.Rank(), err)
	}
	return out, nil
}
