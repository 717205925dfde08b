package cpu

import (
	"golang.org/x/sys/cpu"

	"github.com/sanafarm/sanafarm/kernels"
)

// The transposing panel packers of gemm_pack_amd64.s: each packs kb8·8
// values of k for the 16 weight rows starting at src (row stride ld
// elements) into a 16-column B panel at dst.
//
//go:noescape
func packBT16F32(kb8 int, src *float32, ld int, dst *float32)

//go:noescape
func packBT16BF16(kb8 int, src *uint16, ld int, dst *float32)

//go:noescape
func packBT16F16(kb8 int, src *uint16, ld int, dst *float32)

// hasF16C reports the half-precision conversion instructions packBT16F16
// needs (every AVX2 CPU in practice, but they are a separate feature bit).
var hasF16C = cpu.X86.HasF16C

// packBTransFast packs a complete 16-column panel of a transposed B
// (weight rows j0..j0+15, k range [pc, pc+kb)) with the assembly
// transposer and reports whether it could; the caller falls back to the Go
// packer when it returns false.
func packBTransFast(pan []float32, b matB, pc, kb, j0 int) bool {
	kb8 := kb / 8
	if kb8 == 0 {
		return false
	}
	first := j0*b.ld + pc
	last := (j0+gemmNR-1)*b.ld + pc + kb - 1 // the assembly reads up to here
	_ = pan[kb*gemmNR-1]
	switch {
	case b.f32 != nil:
		_ = b.f32[last]
		packBT16F32(kb8, &b.f32[first], b.ld, &pan[0])
	case b.dt == kernels.BFloat16:
		_ = b.u16[last]
		packBT16BF16(kb8, &b.u16[first], b.ld, &pan[0])
	case b.dt == kernels.Float16 && hasF16C:
		_ = b.u16[last]
		packBT16F16(kb8, &b.u16[first], b.ld, &pan[0])
	default:
		return false
	}
	for p := kb8 * 8; p < kb; p++ {
		for j := range gemmNR {
			pan[p*gemmNR+j] = b.at(pc+p, j0+j)
		}
	}
	return true
}
