package node

import (
	"math/rand/v2"
	"testing"

	"github.com/sanafarm/sanafarm/model/rng"
)

// TestSeedShift checks the identity requestSeed relies on.
func TestSeedShift(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		seed, first, i := r.Uint64(), r.Int64N(1<<36), r.IntN(4096)
		if got, want := rng.SampleSeed(requestSeed(seed, first), i), rng.SampleSeed(seed, int(first)+i); got != want {
			t.Fatalf("seed %d first %d i %d: %x != %x", seed, first, i, got, want)
		}
	}
}
