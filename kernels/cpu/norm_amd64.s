#include "textflag.h"

// AVX2+FMA row kernels for the normalizations; n is a positive multiple
// of 8 and the Go wrappers in norm_amd64.go finish the tails.

// func statsAVX(x *float32, n int, shift float32) (s1, s2 float64)
//
// s1 = Σ(x[i] − shift), s2 = Σ(x[i] − shift)² in float64: the difference
// of two float32 values and its square are exact in float64, so only the
// sums round. Four 4-lane accumulator pairs keep the adds pipelined.
TEXT ·statsAVX(SB), NOSPLIT, $0-40
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS shift+16(FP), X7
	VCVTPS2PD    X7, Y7
	VXORPD       Y8, Y8, Y8
	VXORPD       Y9, Y9, Y9
	VXORPD       Y10, Y10, Y10
	VXORPD       Y11, Y11, Y11
	VXORPD       Y12, Y12, Y12
	VXORPD       Y13, Y13, Y13
	VXORPD       Y14, Y14, Y14
	VXORPD       Y15, Y15, Y15
	XORQ         AX, AX

stats16:
	LEAQ        16(AX), DX
	CMPQ        DX, CX
	JGT         stats8
	VCVTPS2PD   (SI)(AX*4), Y0
	VCVTPS2PD   16(SI)(AX*4), Y1
	VCVTPS2PD   32(SI)(AX*4), Y2
	VCVTPS2PD   48(SI)(AX*4), Y3
	VSUBPD      Y7, Y0, Y0
	VSUBPD      Y7, Y1, Y1
	VSUBPD      Y7, Y2, Y2
	VSUBPD      Y7, Y3, Y3
	VADDPD      Y0, Y8, Y8
	VADDPD      Y1, Y9, Y9
	VADDPD      Y2, Y10, Y10
	VADDPD      Y3, Y11, Y11
	VFMADD231PD Y0, Y0, Y12
	VFMADD231PD Y1, Y1, Y13
	VFMADD231PD Y2, Y2, Y14
	VFMADD231PD Y3, Y3, Y15
	MOVQ        DX, AX
	JMP         stats16

stats8:
	CMPQ        AX, CX
	JGE         statsDone
	VCVTPS2PD   (SI)(AX*4), Y0
	VCVTPS2PD   16(SI)(AX*4), Y1
	VSUBPD      Y7, Y0, Y0
	VSUBPD      Y7, Y1, Y1
	VADDPD      Y0, Y8, Y8
	VADDPD      Y1, Y9, Y9
	VFMADD231PD Y0, Y0, Y12
	VFMADD231PD Y1, Y1, Y13

statsDone:
	VADDPD       Y9, Y8, Y8
	VADDPD       Y11, Y10, Y10
	VADDPD       Y10, Y8, Y8
	VEXTRACTF128 $1, Y8, X0
	VADDPD       X0, X8, X8
	VHADDPD      X8, X8, X8
	VMOVSD       X8, s1+24(FP)
	VADDPD       Y13, Y12, Y12
	VADDPD       Y15, Y14, Y14
	VADDPD       Y14, Y12, Y12
	VEXTRACTF128 $1, Y12, X0
	VADDPD       X0, X12, X12
	VHADDPD      X12, X12, X12
	VMOVSD       X12, s2+32(FP)
	VZEROUPPER
	RET

// func lnRowAVX(o, x *float32, n int, m, s float32)
//
// o[i] = (x[i] − m)·s.
TEXT ·lnRowAVX(SB), NOSPLIT, $0-32
	MOVQ         o+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS m+24(FP), Y6
	VBROADCASTSS s+28(FP), Y7
	XORQ         AX, AX

lnLoop:
	CMPQ    AX, CX
	JGE     lnDone
	VMOVUPS (SI)(AX*4), Y0
	VSUBPS  Y6, Y0, Y0
	VMULPS  Y7, Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     lnLoop

lnDone:
	VZEROUPPER
	RET

// func lnModRowAVX(o, x, sc, sh *float32, n int, m, s float32)
//
// o[i] = y + y·sc[i] + sh[i] with y = (x[i] − m)·s: LayerNorm(x)·(1 +
// scale) + shift without rounding 1 + scale.
TEXT ·lnModRowAVX(SB), NOSPLIT, $0-48
	MOVQ         o+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         sc+16(FP), R8
	MOVQ         sh+24(FP), R9
	MOVQ         n+32(FP), CX
	VBROADCASTSS m+40(FP), Y6
	VBROADCASTSS s+44(FP), Y7
	XORQ         AX, AX

lnModLoop:
	CMPQ        AX, CX
	JGE         lnModDone
	VMOVUPS     (SI)(AX*4), Y0
	VSUBPS      Y6, Y0, Y0
	VMULPS      Y7, Y0, Y0
	VMOVAPS     Y0, Y1
	VFMADD132PS (R8)(AX*4), Y1, Y0
	VADDPS      (R9)(AX*4), Y0, Y0
	VMOVUPS     Y0, (DI)(AX*4)
	ADDQ        $8, AX
	JMP         lnModLoop

lnModDone:
	VZEROUPPER
	RET

// func rmsRowAVX(o, x, w *float32, n int, s float32)
//
// o[i] = x[i]·s·w[i].
TEXT ·rmsRowAVX(SB), NOSPLIT, $0-36
	MOVQ         o+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         w+16(FP), R8
	MOVQ         n+24(FP), CX
	VBROADCASTSS s+32(FP), Y7
	XORQ         AX, AX

rmsLoop:
	CMPQ    AX, CX
	JGE     rmsDone
	VMULPS  (SI)(AX*4), Y7, Y0
	VMULPS  (R8)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     rmsLoop

rmsDone:
	VZEROUPPER
	RET
