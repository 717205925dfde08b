#include "textflag.h"

// Packing a transposed B ([N, K] weight rows) into 16-column panels is a
// transpose: 16 weight rows become the 16 columns of the panel. These
// routines do it 8×8 floats at a time in registers (unpack, shuffle,
// 128-bit permute), widening 16-bit weights on the load, instead of the
// scalar gather that costs several cycles per element.

// Load one 8-float segment of each of 8 rows at AX (row stride R8 bytes,
// R9 = 3·R8) into Y0..Y7, with LOAD(mem, reg) doing the widening.
#define LOADROWS(LOAD) \
	LOAD((AX), Y0)       \
	LOAD((AX)(R8*1), Y1) \
	LOAD((AX)(R8*2), Y2) \
	LOAD((AX)(R9*1), Y3) \
	LEAQ (AX)(R8*4), BX  \
	LOAD((BX), Y4)       \
	LOAD((BX)(R8*1), Y5) \
	LOAD((BX)(R8*2), Y6) \
	LOAD((BX)(R9*1), Y7)

#define LOADF32(M, R) VMOVUPS M, R
#define LOADBF16(M, R) VPMOVZXWD M, R; VPSLLD $16, R, R
#define LOADF16(M, R) VCVTPH2PS M, R

// Transpose rows Y0..Y7 into columns Y8..Y15 (Y(8+p) = element p of
// every row) and store column p as the 8 floats at OFF + 64·p bytes past
// DI: row p of the panel, left or right half.
#define TRANSPOSE_STORE(OFF) \
	VUNPCKLPS  Y1, Y0, Y8         \
	VUNPCKHPS  Y1, Y0, Y9         \
	VUNPCKLPS  Y3, Y2, Y10        \
	VUNPCKHPS  Y3, Y2, Y11        \
	VUNPCKLPS  Y5, Y4, Y12        \
	VUNPCKHPS  Y5, Y4, Y13        \
	VUNPCKLPS  Y7, Y6, Y14        \
	VUNPCKHPS  Y7, Y6, Y15        \
	VSHUFPS    $0x44, Y10, Y8, Y0 \
	VSHUFPS    $0xEE, Y10, Y8, Y1 \
	VSHUFPS    $0x44, Y11, Y9, Y2 \
	VSHUFPS    $0xEE, Y11, Y9, Y3 \
	VSHUFPS    $0x44, Y14, Y12, Y4 \
	VSHUFPS    $0xEE, Y14, Y12, Y5 \
	VSHUFPS    $0x44, Y15, Y13, Y6 \
	VSHUFPS    $0xEE, Y15, Y13, Y7 \
	VPERM2F128 $0x20, Y4, Y0, Y8  \
	VPERM2F128 $0x20, Y5, Y1, Y9  \
	VPERM2F128 $0x20, Y6, Y2, Y10 \
	VPERM2F128 $0x20, Y7, Y3, Y11 \
	VPERM2F128 $0x31, Y4, Y0, Y12 \
	VPERM2F128 $0x31, Y5, Y1, Y13 \
	VPERM2F128 $0x31, Y6, Y2, Y14 \
	VPERM2F128 $0x31, Y7, Y3, Y15 \
	VMOVUPS    Y8, OFF(DI)        \
	VMOVUPS    Y9, (OFF+64)(DI)   \
	VMOVUPS    Y10, (OFF+128)(DI) \
	VMOVUPS    Y11, (OFF+192)(DI) \
	VMOVUPS    Y12, (OFF+256)(DI) \
	VMOVUPS    Y13, (OFF+320)(DI) \
	VMOVUPS    Y14, (OFF+384)(DI) \
	VMOVUPS    Y15, (OFF+448)(DI)

// Body shared by the three element types: ESIZE is the element size in
// bytes. Each iteration packs 8 values of k: rows 0..7 into the left half
// of 8 panel rows, rows 8..15 into the right half.
#define PACKBT16(LOAD, ESIZE) \
	MOVQ kb8+0(FP), CX          \
	MOVQ src+8(FP), SI          \
	MOVQ ld+16(FP), R8          \
	MOVQ dst+24(FP), DI         \
	IMULQ $ESIZE, R8            \
	LEAQ (R8)(R8*2), R9         \
	TESTQ CX, CX                \
	JZ   done                   \
loop:                           \
	MOVQ SI, AX                 \
	LOADROWS(LOAD)              \
	TRANSPOSE_STORE(0)          \
	LEAQ (SI)(R8*8), AX         \
	LOADROWS(LOAD)              \
	TRANSPOSE_STORE(32)         \
	ADDQ $(8*ESIZE), SI         \
	ADDQ $512, DI               \
	DECQ CX                     \
	JNZ  loop                   \
done:                           \
	VZEROUPPER                  \
	RET

// func packBT16F32(kb8 int, src *float32, ld int, dst *float32)
TEXT ·packBT16F32(SB), NOSPLIT, $0-32
	PACKBT16(LOADF32, 4)

// func packBT16BF16(kb8 int, src *uint16, ld int, dst *float32)
TEXT ·packBT16BF16(SB), NOSPLIT, $0-32
	PACKBT16(LOADBF16, 2)

// func packBT16F16(kb8 int, src *uint16, ld int, dst *float32)
TEXT ·packBT16F16(SB), NOSPLIT, $0-32
	PACKBT16(LOADF16, 2)
