#include "textflag.h"

// AVX2+FMA kernels for the float32 exp of exp.go and the elementwise ops
// built on it, 8 lanes at a time. The exp is the same algorithm as expf:
// clamp, n = round(x·log2e), Cody–Waite r = x − n·C1 − n·C2, Horner
// polynomial, ·2^(n>>1)·2^(n−n>>1). All n are multiples of 8; the Go
// wrappers finish the tails.

// Eight copies of a float32 bit pattern, for broadcasts and for memory
// operands of the FMAs.
#define CONST8(name, bits) \
	DATA name<>+0(SB)/4, $bits  \
	DATA name<>+4(SB)/4, $bits  \
	DATA name<>+8(SB)/4, $bits  \
	DATA name<>+12(SB)/4, $bits \
	DATA name<>+16(SB)/4, $bits \
	DATA name<>+20(SB)/4, $bits \
	DATA name<>+24(SB)/4, $bits \
	DATA name<>+28(SB)/4, $bits \
	GLOBL name<>(SB), RODATA|NOPTR, $32

CONST8(expHi, 0x42b20000)    // 89
CONST8(expLo, 0xc2d00000)    // -104
CONST8(expLog2e, 0x3fb8aa3b)
CONST8(expC1, 0x3f318000)
CONST8(expC2, 0xb95e8083)
CONST8(expP6, 0x3ab68883)
CONST8(expP5, 0x3c0905b6)
CONST8(expP4, 0x3d2aaa8d)
CONST8(expP3, 0x3e2aaa6e)
CONST8(expP2, 0x3f000000)
CONST8(expOne, 0x3f800000)
CONST8(expBias, 0x0000007f)  // int32 127
CONST8(expSign, 0x80000000)
CONST8(geluK1, 0xbfcc422a)
CONST8(geluK2, 0xbd922279)
CONST8(negInf, 0xff800000)

// EXPSETUP loads the constants EXP8 keeps in registers (Y4, Y5, Y9..Y15);
// kernels may use Y0..Y3 (EXP8's operand and temporaries) and Y6..Y8.
#define EXPSETUP \
	VMOVUPS expHi<>(SB), Y15    \
	VMOVUPS expLo<>(SB), Y14    \
	VMOVUPS expLog2e<>(SB), Y13 \
	VMOVUPS expC1<>(SB), Y12    \
	VMOVUPS expC2<>(SB), Y11    \
	VMOVUPS expP6<>(SB), Y10    \
	VMOVUPS expP5<>(SB), Y9     \
	VMOVUPS expOne<>(SB), Y5    \
	VMOVUPS expBias<>(SB), Y4

// EXP8 replaces Y0 by e^Y0, using Y1..Y3. The clamps keep Y0 as their
// second source so NaN passes through (VMINPS/VMAXPS return it on
// unordered compares); a NaN's garbage n is harmless since p is NaN.
#define EXP8 \
	VMINPS       Y0, Y15, Y0               \
	VMAXPS       Y0, Y14, Y0               \
	VMULPS       Y13, Y0, Y1               \
	VROUNDPS     $0, Y1, Y1                \
	VFNMADD231PS Y12, Y1, Y0               \
	VFNMADD231PS Y11, Y1, Y0               \
	VCVTPS2DQ    Y1, Y2                    \
	VMOVAPS      Y10, Y3                   \
	VFMADD213PS  Y9, Y0, Y3                \
	VFMADD213PS  expP4<>(SB), Y0, Y3       \
	VFMADD213PS  expP3<>(SB), Y0, Y3       \
	VFMADD213PS  expP2<>(SB), Y0, Y3       \
	VFMADD213PS  Y5, Y0, Y3                \
	VFMADD213PS  Y5, Y0, Y3                \
	VPSRAD       $1, Y2, Y1                \
	VPSUBD       Y1, Y2, Y2                \
	VPADDD       Y4, Y1, Y1                \
	VPADDD       Y4, Y2, Y2                \
	VPSLLD       $23, Y1, Y1               \
	VPSLLD       $23, Y2, Y2               \
	VMULPS       Y1, Y3, Y3                \
	VMULPS       Y2, Y3, Y0

// func siluAVX(dst, src *float32, n int)
//
// dst[i] = src[i]/(1 + e^−src[i]).
TEXT ·siluAVX(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	EXPSETUP
	VMOVUPS expSign<>(SB), Y8
	XORQ    AX, AX

siluLoop:
	CMPQ    AX, CX
	JGE     siluDone
	VMOVUPS (SI)(AX*4), Y6
	VXORPS  Y8, Y6, Y0
	EXP8
	VADDPS  Y5, Y0, Y0
	VDIVPS  Y0, Y6, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     siluLoop

siluDone:
	VZEROUPPER
	RET

// func geluAVX(dst, src *float32, n int)
//
// dst[i] = x/(1 + e^z), z = x·(K1 + K2·x²): GELU-tanh as x·σ(2u).
TEXT ·geluAVX(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	EXPSETUP
	VMOVUPS geluK2<>(SB), Y8
	XORQ    AX, AX

geluLoop:
	CMPQ        AX, CX
	JGE         geluDone
	VMOVUPS     (SI)(AX*4), Y6
	VMULPS      Y6, Y6, Y0
	VFMADD213PS geluK1<>(SB), Y8, Y0
	VMULPS      Y6, Y0, Y0
	EXP8
	VADDPS      Y5, Y0, Y0
	VDIVPS      Y0, Y6, Y0
	VMOVUPS     Y0, (DI)(AX*4)
	ADDQ        $8, AX
	JMP         geluLoop

geluDone:
	VZEROUPPER
	RET

// func expSubSumAVX(dst, src *float32, n int, m float32) float64
//
// dst[i] = e^(src[i] − m); returns Σ dst[i] accumulated in float64 (two
// 4-lane accumulators) so long rows lose nothing to the sum.
TEXT ·expSubSumAVX(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS m+24(FP), Y7
	EXPSETUP
	VXORPD       Y6, Y6, Y6
	VXORPD       Y8, Y8, Y8
	XORQ         AX, AX

expSumLoop:
	CMPQ         AX, CX
	JGE          expSumDone
	VMOVUPS      (SI)(AX*4), Y0
	VSUBPS       Y7, Y0, Y0
	EXP8
	VMOVUPS      Y0, (DI)(AX*4)
	VCVTPS2PD    X0, Y1
	VEXTRACTF128 $1, Y0, X2
	VCVTPS2PD    X2, Y2
	VADDPD       Y1, Y6, Y6
	VADDPD       Y2, Y8, Y8
	ADDQ         $8, AX
	JMP          expSumLoop

expSumDone:
	VADDPD       Y8, Y6, Y6
	VEXTRACTF128 $1, Y6, X1
	VADDPD       X1, X6, X6
	VHADDPD      X6, X6, X6
	VMOVSD       X6, ret+32(FP)
	VZEROUPPER
	RET

// func maxAVX(x *float32, n int) float32
//
// Returns max x[i], or NaN if any x[i] is NaN (tracked separately because
// VMAXPS drops NaN from the running maximum).
TEXT ·maxAVX(SB), NOSPLIT, $0-20
	MOVQ    x+0(FP), SI
	MOVQ    n+8(FP), CX
	VMOVUPS negInf<>(SB), Y0
	VMOVUPS Y0, Y4
	VXORPS  Y1, Y1, Y1
	XORQ    AX, AX

maxLoop16:
	LEAQ    16(AX), DX
	CMPQ    DX, CX
	JGT     maxLoop8
	VMOVUPS (SI)(AX*4), Y2
	VMOVUPS 32(SI)(AX*4), Y5
	VMAXPS  Y2, Y0, Y0
	VMAXPS  Y5, Y4, Y4
	VCMPPS  $3, Y2, Y2, Y3
	VCMPPS  $3, Y5, Y5, Y6
	VORPS   Y3, Y1, Y1
	VORPS   Y6, Y1, Y1
	MOVQ    DX, AX
	JMP     maxLoop16

maxLoop8:
	CMPQ    AX, CX
	JGE     maxDone
	VMOVUPS (SI)(AX*4), Y2
	VMAXPS  Y2, Y0, Y0
	VCMPPS  $3, Y2, Y2, Y3
	VORPS   Y3, Y1, Y1
	ADDQ    $8, AX
	JMP     maxLoop8

maxDone:
	VMAXPS       Y4, Y0, Y0
	VEXTRACTF128 $1, Y0, X2
	VMAXPS       X2, X0, X0
	VPERMILPS    $0x4e, X0, X2
	VMAXPS       X2, X0, X0
	VPERMILPS    $0xb1, X0, X2
	VMAXPS       X2, X0, X0
	VPTEST       Y1, Y1
	JZ           maxRet
	VPCMPEQD     Y0, Y0, Y0 // all-ones bits: a NaN

maxRet:
	VMOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func scaleAVX(dst, src *float32, n int, s float32)
//
// dst[i] = src[i]·s.
TEXT ·scaleAVX(SB), NOSPLIT, $0-28
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS s+24(FP), Y1
	XORQ         AX, AX

scaleLoop:
	CMPQ    AX, CX
	JGE     scaleDone
	VMULPS  (SI)(AX*4), Y1, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     scaleLoop

scaleDone:
	VZEROUPPER
	RET

// func mulAVX(dst, a, b *float32, n int)
//
// dst[i] = a[i]·b[i].
TEXT ·mulAVX(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	XORQ AX, AX

mulLoop:
	CMPQ    AX, CX
	JGE     mulDone
	VMOVUPS (SI)(AX*4), Y0
	VMULPS  (DX)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     mulLoop

mulDone:
	VZEROUPPER
	RET
