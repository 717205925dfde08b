package cpu

// kernGo is the portable micro-kernel: C tile (gemmMR×gemmNR at c, row
// stride ldc) = (acc ? C : 0) + A panel · B panel, with a and b packed by
// packA and packB. It keeps two rows of the tile in local variables per
// pass so the compiler can hold the 2×16 accumulators in registers on
// machines with enough of them (arm64 has 32 FP registers).
func kernGo(kc int, a, b []float32, c []float32, ldc int, acc bool) {
	a = a[:kc*gemmMR]
	b = b[:kc*gemmNR]
	for i := 0; i < gemmMR; i += 2 {
		var r0, r1 [gemmNR]float32
		for p := range kc {
			bp := (*[gemmNR]float32)(b[p*gemmNR:])
			a0, a1 := a[p*gemmMR+i], a[p*gemmMR+i+1]
			for j, bv := range bp {
				r0[j] += a0 * bv
				r1[j] += a1 * bv
			}
		}
		storeRow(c[i*ldc:], &r0, acc)
		storeRow(c[(i+1)*ldc:], &r1, acc)
	}
}

// storeRow writes (or adds, when acc) one tile row into c.
func storeRow(c []float32, r *[gemmNR]float32, acc bool) {
	d := (*[gemmNR]float32)(c[:gemmNR])
	if acc {
		for j := range d {
			d[j] += r[j]
		}
		return
	}
	*d = *r
}
