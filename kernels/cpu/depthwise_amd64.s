#include "textflag.h"

// func dwTapsAVX(n int, acc, x, w *float32, xo, wo *int, taps int)
//
// acc[i] += Σ_t x[xo[t]+i]·w[wo[t]+i] for 0 ≤ i < n, n a multiple of 8.
// The accumulators stay in registers across all taps (one load and one
// store of acc per 32 channels); four independent chains hide FMA latency.
TEXT ·dwTapsAVX(SB), NOSPLIT, $0-56
	MOVQ n+0(FP), CX
	MOVQ acc+8(FP), DI
	MOVQ x+16(FP), SI
	MOVQ w+24(FP), R8
	MOVQ xo+32(FP), R9
	MOVQ wo+40(FP), R10
	MOVQ taps+48(FP), R11
	XORQ AX, AX

loop32:
	LEAQ 32(AX), DX
	CMPQ DX, CX
	JGT  loop8
	VMOVUPS (DI)(AX*4), Y0
	VMOVUPS 32(DI)(AX*4), Y1
	VMOVUPS 64(DI)(AX*4), Y2
	VMOVUPS 96(DI)(AX*4), Y3
	XORQ BX, BX

tap32:
	CMPQ BX, R11
	JGE  store32
	MOVQ (R9)(BX*8), R12
	MOVQ (R10)(BX*8), R13
	ADDQ AX, R12
	ADDQ AX, R13
	VMOVUPS (SI)(R12*4), Y4
	VMOVUPS 32(SI)(R12*4), Y5
	VMOVUPS 64(SI)(R12*4), Y6
	VMOVUPS 96(SI)(R12*4), Y7
	VFMADD231PS (R8)(R13*4), Y4, Y0
	VFMADD231PS 32(R8)(R13*4), Y5, Y1
	VFMADD231PS 64(R8)(R13*4), Y6, Y2
	VFMADD231PS 96(R8)(R13*4), Y7, Y3
	INCQ BX
	JMP  tap32

store32:
	VMOVUPS Y0, (DI)(AX*4)
	VMOVUPS Y1, 32(DI)(AX*4)
	VMOVUPS Y2, 64(DI)(AX*4)
	VMOVUPS Y3, 96(DI)(AX*4)
	ADDQ $32, AX
	JMP  loop32

loop8:
	CMPQ AX, CX
	JGE  done
	VMOVUPS (DI)(AX*4), Y0
	XORQ BX, BX

tap8:
	CMPQ BX, R11
	JGE  store8
	MOVQ (R9)(BX*8), R12
	MOVQ (R10)(BX*8), R13
	ADDQ AX, R12
	ADDQ AX, R13
	VMOVUPS (SI)(R12*4), Y4
	VFMADD231PS (R8)(R13*4), Y4, Y0
	INCQ BX
	JMP  tap8

store8:
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	JMP  loop8

done:
	VZEROUPPER
	RET
