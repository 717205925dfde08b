#include "textflag.h"

// One k step of the 6×16 tile: two 8-float vectors of the packed B row
// (Y0, Y1) times six broadcast A values, accumulated in Y4..Y15 (row r in
// Y(4+2r), Y(5+2r)). AOFF/BOFF are byte offsets into the A and B panels so
// an unrolled loop needs no pointer updates between steps. Two broadcast
// registers alternate so a broadcast can issue while the previous row's
// FMAs still read the other one.
#define STEP(AOFF, BOFF) \
	VMOVUPS      BOFF(DI), Y0           \
	VMOVUPS      (BOFF+32)(DI), Y1      \
	VBROADCASTSS AOFF(SI), Y2           \
	VBROADCASTSS (AOFF+4)(SI), Y3       \
	VFMADD231PS  Y0, Y2, Y4             \
	VFMADD231PS  Y1, Y2, Y5             \
	VFMADD231PS  Y0, Y3, Y6             \
	VFMADD231PS  Y1, Y3, Y7             \
	VBROADCASTSS (AOFF+8)(SI), Y2       \
	VBROADCASTSS (AOFF+12)(SI), Y3      \
	VFMADD231PS  Y0, Y2, Y8             \
	VFMADD231PS  Y1, Y2, Y9             \
	VFMADD231PS  Y0, Y3, Y10            \
	VFMADD231PS  Y1, Y3, Y11            \
	VBROADCASTSS (AOFF+16)(SI), Y2      \
	VBROADCASTSS (AOFF+20)(SI), Y3      \
	VFMADD231PS  Y0, Y2, Y12            \
	VFMADD231PS  Y1, Y2, Y13            \
	VFMADD231PS  Y0, Y3, Y14            \
	VFMADD231PS  Y1, Y3, Y15

// Store one tile row (two vectors) at DX, adding what is there first.
#define ROWADD(R0, R1) \
	VADDPS  (DX), R0, R0   \
	VADDPS  32(DX), R1, R1 \
	VMOVUPS R0, (DX)       \
	VMOVUPS R1, 32(DX)     \
	ADDQ    R8, DX

// Store one tile row, overwriting.
#define ROWSET(R0, R1) \
	VMOVUPS R0, (DX)   \
	VMOVUPS R1, 32(DX) \
	ADDQ    R8, DX

// func kernAVX2(kc int, a *float32, b *float32, c *float32, ldc int, acc bool)
TEXT ·kernAVX2(SB), NOSPLIT, $0-41
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8 // row stride in bytes

	// Start loading the C tile now: it is needed only after the k loop,
	// and this way its (likely L2/L3) latency overlaps the FMAs. A row
	// is 64 bytes, so touch its first and last element (two cache lines
	// when unaligned).
	MOVQ       DX, AX
	PREFETCHT0 (AX)
	PREFETCHT0 60(AX)
	ADDQ       R8, AX
	PREFETCHT0 (AX)
	PREFETCHT0 60(AX)
	ADDQ       R8, AX
	PREFETCHT0 (AX)
	PREFETCHT0 60(AX)
	ADDQ       R8, AX
	PREFETCHT0 (AX)
	PREFETCHT0 60(AX)
	ADDQ       R8, AX
	PREFETCHT0 (AX)
	PREFETCHT0 60(AX)
	ADDQ       R8, AX
	PREFETCHT0 (AX)
	PREFETCHT0 60(AX)

	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

	// Main loop: four k steps per iteration (96 bytes of A, 256 of B).
	MOVQ CX, BX
	SHRQ $2, BX
	JZ   tail

loop4:
	STEP(0, 0)
	STEP(24, 64)
	STEP(48, 128)
	STEP(72, 192)
	ADDQ $96, SI
	ADDQ $256, DI
	DECQ BX
	JNZ  loop4

tail:
	ANDQ $3, CX
	JZ   store

loop1:
	STEP(0, 0)
	ADDQ $24, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  loop1

store:
	CMPB acc+40(FP), $0
	JEQ  overwrite
	ROWADD(Y4, Y5)
	ROWADD(Y6, Y7)
	ROWADD(Y8, Y9)
	ROWADD(Y10, Y11)
	ROWADD(Y12, Y13)
	ROWADD(Y14, Y15)
	VZEROUPPER
	RET

overwrite:
	ROWSET(Y4, Y5)
	ROWSET(Y6, Y7)
	ROWSET(Y8, Y9)
	ROWSET(Y10, Y11)
	ROWSET(Y12, Y13)
	ROWSET(Y14, Y15)
	VZEROUPPER
	RET
