package dit

import (
	"context"
	"errors"
	"testing"

	"github.com/sanafarm/sanafarm/kernels"
	"github.com/sanafarm/sanafarm/kernels/cpu"
)

// failingComm is a 2-rank group whose collectives fail after `ok` calls,
// as when a peer is lost mid-forward.
type failingComm struct {
	ok     int
	failed bool
}

var errPeerLost = errors.New("peer lost")

func (c *failingComm) Rank() int { return 0 }
func (c *failingComm) Size() int { return 2 }
func (c *failingComm) step() error {
	if c.ok <= 0 {
		c.failed = true
		return errPeerLost
	}
	c.ok--
	return nil
}
func (c *failingComm) AllReduce(context.Context, []float32) error { return c.step() }
func (c *failingComm) AllGather(_ context.Context, in []float32) ([][]float32, error) {
	return [][]float32{in, in}, c.step()
}
func (c *failingComm) Exchange(_ context.Context, p, n []float32) ([]float32, []float32, error) {
	return nil, n, c.step()
}

// TestForwardCommFailure: a collective that fails at any point of a
// parallel forward ends it with that error; it never panics on the nil
// scratch tensors a failed run leaves behind (a lost peer used to crash the
// node in the Mix-FFN).
func TestForwardCommFailure(t *testing.T) {
	c := tinyConfig(true, false)
	w, err := RandomWeights(c, 3)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, mode := range []Mode{TensorParallel, SequenceParallel} {
		for ok := range 12 {
			comm := &failingComm{ok: ok}
			m, err := NewParallel(c, w, cpu.New(cpu.Config{Threads: 1}), comm, mode)
			if err != nil {
				t.Fatal(err)
			}
			cd, err := m.PrepareCond(ctx, kernels.MustNew(kernels.Float32, 1, 5, 48), kernels.MustNew(kernels.Int64, 1, 5))
			if errors.Is(err, errPeerLost) {
				continue // failed while preparing the caption: fine, no panic
			} else if err != nil {
				t.Fatal(err)
			}
			x := kernels.MustNew(kernels.Float32, 1, 8, 4, 4)
			_, err = m.Forward(ctx, x, []float32{500}, nil, cd)
			if comm.failed && !errors.Is(err, errPeerLost) || !comm.failed && err != nil {
				t.Errorf("mode %d, failing after %d collectives (failed: %v): Forward = %v", mode, ok, comm.failed, err)
			}
		}
	}
}
