package cpu

import "github.com/sanafarm/sanafarm/kernels"

// packA copies rows [ic, ic+mb) × columns [pc, pc+kb) of A into dst as
// consecutive mr-row panels; within a panel, the mr values of one column
// are adjacent (dst[panel·kb·mr + p·mr + i]) so the micro-kernel reads A
// with unit stride. Rows past mb are zero so edge tiles need no masking.
func packA(dst, a []float32, lda, ic, mb, pc, kb int) {
	for ir := 0; ir < mb; ir += gemmMR {
		pan := dst[ir*kb : (ir+gemmMR)*kb]
		rows := min(gemmMR, mb-ir)
		if rows == gemmMR {
			packAFull(pan, a, lda, (ic+ir)*lda+pc, kb)
			continue
		}
		for i := range gemmMR {
			if i >= rows {
				for p := range kb {
					pan[p*gemmMR+i] = 0
				}
				continue
			}
			src := a[(ic+ir+i)*lda+pc : (ic+ir+i)*lda+pc+kb]
			for p, v := range src {
				pan[p*gemmMR+i] = v
			}
		}
	}
}

// packAFull packs one complete mr-row panel, reading the six rows in
// lock step so every store of a column is a contiguous 24-byte group.
func packAFull(pan, a []float32, lda, off, kb int) {
	r0 := a[off : off+kb]
	r1 := a[off+lda : off+lda+kb]
	r2 := a[off+2*lda : off+2*lda+kb]
	r3 := a[off+3*lda : off+3*lda+kb]
	r4 := a[off+4*lda : off+4*lda+kb]
	r5 := a[off+5*lda : off+5*lda+kb]
	pan = pan[:kb*gemmMR]
	for p := range kb {
		d := (*[gemmMR]float32)(pan[p*gemmMR:])
		d[0], d[1], d[2], d[3], d[4], d[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
	}
}

// packB copies rows [pc, pc+kb) × columns [jc, jc+nb) of the logical K×N
// operand into dst as consecutive nr-column panels; within a panel the nr
// values of one row are adjacent (dst[panel·kb·nr + p·nr + j]). Columns
// past nb are zero. 16-bit storage is widened to float32 here. With simd,
// complete panels of a transposed B use the assembly transposer.
func packB(dst []float32, b matB, pc, kb, jc, nb int, simd bool) {
	for jr := 0; jr < nb; jr += gemmNR {
		pan := dst[jr*kb : (jr+gemmNR)*kb]
		cols := min(gemmNR, nb-jr)
		j0 := jc + jr
		if simd && b.trans && cols == gemmNR && packBTransFast(pan, b, pc, kb, j0) {
			continue
		}
		switch {
		case b.trans && b.f32 != nil:
			packBTransF32(pan, b.f32, b.ld, pc, kb, j0, cols)
		case b.trans:
			packBTransU16(pan, b.u16, b.dt, b.ld, pc, kb, j0, cols)
		case b.f32 != nil:
			packBF32(pan, b.f32, b.ld, pc, kb, j0, cols)
		default:
			packBU16(pan, b.u16, b.dt, b.ld, pc, kb, j0, cols)
		}
	}
}

// zeroCols clears columns [cols, nr) of every row of a B panel.
func zeroCols(pan []float32, kb, cols int) {
	if cols == gemmNR {
		return
	}
	for p := range kb {
		clear(pan[p*gemmNR+cols : (p+1)*gemmNR])
	}
}

// packBF32 packs a non-transposed float32 B (rows of B are contiguous).
func packBF32(pan, b []float32, ld, pc, kb, j0, cols int) {
	for p := range kb {
		off := (pc+p)*ld + j0
		copy(pan[p*gemmNR:p*gemmNR+cols], b[off:off+cols])
	}
	zeroCols(pan, kb, cols)
}

// packBU16 packs a non-transposed 16-bit B.
func packBU16(pan []float32, b []uint16, dt kernels.DType, ld, pc, kb, j0, cols int) {
	for p := range kb {
		off := (pc+p)*ld + j0
		widen(pan[p*gemmNR:p*gemmNR+cols], b[off:off+cols], dt)
	}
	zeroCols(pan, kb, cols)
}

// packBTransF32 packs a float32 B stored as [N, K] rows (the PyTorch
// Linear weight): each column of the panel is a contiguous run of a
// weight row, transposed into the panel.
func packBTransF32(pan, b []float32, ld, pc, kb, j0, cols int) {
	for j := range cols {
		src := b[(j0+j)*ld+pc : (j0+j)*ld+pc+kb]
		for p, v := range src {
			pan[p*gemmNR+j] = v
		}
	}
	zeroCols(pan, kb, cols)
}

// packBTransU16 is packBTransF32 for 16-bit weights. A row is widened into
// a small stack buffer first so the conversion runs on contiguous data.
func packBTransU16(pan []float32, b []uint16, dt kernels.DType, ld, pc, kb, j0, cols int) {
	var row [256]float32
	for q := 0; q < kb; q += len(row) {
		n := min(len(row), kb-q)
		for j := range cols {
			off := (j0+j)*ld + pc + q
			widen(row[:n], b[off:off+n], dt)
			for p, v := range row[:n] {
				pan[(q+p)*gemmNR+j] = v
			}
		}
	}
	zeroCols(pan, kb, cols)
}

// widen converts 16-bit floats of dtype dt to float32.
func widen(dst []float32, src []uint16, dt kernels.DType) {
	dst = dst[:len(src)]
	if dt == kernels.BFloat16 {
		// bfloat16 is the top half of a float32: widening is a shift.
		for i, h := range src {
			dst[i] = kernels.BF16ToF32(h)
		}
		return
	}
	for i, h := range src {
		dst[i] = kernels.F16ToF32(h)
	}
}
