package kernels

// CheckMatMul validates MatMul: a [..., M, K] (leading dims flattened into
// M), w [N, K], optional bias [N], dst [..., M, N] with a's leading dims.
func CheckMatMul(dst, a, w, bias *Tensor) (m, n, k int, err error) {
	c := checker{op: "matmul"}
	c.act("dst", dst)
	c.act("a", a)
	c.float("w", w)
	c.minRank("a", a, 1)
	c.rank("w", w, 2)
	if !c.ok() {
		return 0, 0, 0, c.err
	}
	k, n = a.Dim(-1), w.shape[0]
	if w.shape[1] != k {
		c.fail("a %v and w %v: inner dimensions %d != %d", a, w, k, w.shape[1])
	}
	if bias != nil {
		c.float("bias", bias)
		c.shape("bias", bias, n)
	}
	want := append(append([]int(nil), a.shape[:a.Rank()-1]...), n)
	c.shape("dst", dst, want...)
	c.noOverlap("dst", dst, "a", a)
	c.noOverlap("dst", dst, "w", w)
	c.noOverlap("dst", dst, "bias", bias)
	if !c.ok() {
		return 0, 0, 0, c.err
	}
	if k > 0 {
		m = a.Len() / k
	} else {
		m = dst.Len() / max(n, 1)
	}
	return m, n, k, nil
}

// CheckBatchMatMul validates BatchMatMul: a [Bt, M, K], b [Bt, K, N] (or
// [Bt, N, K] when transB), dst [Bt, M, N], all Float32.
func CheckBatchMatMul(dst, a, b *Tensor, transB bool) (bt, m, n, k int, err error) {
	c := checker{op: "batch matmul"}
	c.f32("dst", dst)
	c.f32("a", a)
	c.f32("b", b)
	c.rank("a", a, 3)
	c.rank("b", b, 3)
	if !c.ok() {
		return 0, 0, 0, 0, c.err
	}
	bt, m, k = a.shape[0], a.shape[1], a.shape[2]
	kb, n := b.shape[1], b.shape[2]
	if transB {
		kb, n = n, kb
	}
	if b.shape[0] != bt {
		c.fail("a %v and b %v: batch sizes %d != %d", a, b, bt, b.shape[0])
	}
	if c.ok() && kb != k {
		c.fail("a %v and b %v (transB=%v): inner dimensions %d != %d", a, b, transB, k, kb)
	}
	c.shape("dst", dst, bt, m, n)
	c.noOverlap("dst", dst, "a", a)
	c.noOverlap("dst", dst, "b", b)
	return bt, m, n, k, c.err
}

// ConvDims are the sizes of a validated Conv2D.
type ConvDims struct {
	B, H, W, Cin    int
	Ho, Wo, Cout    int
	KH, KW          int
	CinG, CoutG     int // channels per group
	Stride, Pad, Gr int
}

// CheckConv2D validates Conv2D: x [B, H, W, Cin] NHWC, w [Cout, kh, kw,
// Cin/Groups] OHWI, optional bias [Cout], dst [B, Ho, Wo, Cout].
func CheckConv2D(dst, x, w, bias *Tensor, p ConvParams) (ConvDims, error) {
	c := checker{op: "conv2d"}
	c.f32("dst", dst)
	c.f32("x", x)
	c.float("w", w)
	c.rank("x", x, 4)
	c.rank("w", w, 4)
	if c.ok() && (p.Stride < 1 || p.Pad < 0 || p.Groups < 1) {
		c.fail("bad params stride=%d pad=%d groups=%d (need stride ≥ 1, pad ≥ 0, groups ≥ 1)", p.Stride, p.Pad, p.Groups)
	}
	if !c.ok() {
		return ConvDims{}, c.err
	}
	d := ConvDims{B: x.shape[0], H: x.shape[1], W: x.shape[2], Cin: x.shape[3],
		Cout: w.shape[0], KH: w.shape[1], KW: w.shape[2], Stride: p.Stride, Pad: p.Pad, Gr: p.Groups}
	switch {
	case d.Cin%p.Groups != 0 || d.Cout%p.Groups != 0:
		c.fail("x %v and w %v: channels %d→%d not divisible by groups %d", x, w, d.Cin, d.Cout, p.Groups)
	case w.shape[3] != d.Cin/p.Groups:
		c.fail("x %v and w %v: weight has %d input channels per group, want %d (OHWI layout, groups %d)",
			x, w, w.shape[3], d.Cin/p.Groups, p.Groups)
	case d.KH < 1 || d.KW < 1 || d.H+2*p.Pad < d.KH || d.W+2*p.Pad < d.KW:
		c.fail("x %v and w %v: kernel %dx%d does not fit input with pad %d", x, w, d.KH, d.KW, p.Pad)
	}
	if !c.ok() {
		return ConvDims{}, c.err
	}
	d.CinG, d.CoutG = d.Cin/p.Groups, d.Cout/p.Groups
	d.Ho = (d.H+2*p.Pad-d.KH)/p.Stride + 1
	d.Wo = (d.W+2*p.Pad-d.KW)/p.Stride + 1
	if bias != nil {
		c.float("bias", bias)
		c.shape("bias", bias, d.Cout)
	}
	c.shape("dst", dst, d.B, d.Ho, d.Wo, d.Cout)
	c.noOverlap("dst", dst, "x", x)
	c.noOverlap("dst", dst, "w", w)
	c.noOverlap("dst", dst, "bias", bias)
	return d, c.err
}

// CheckLayerNorm validates LayerNorm: dst and x the same shape, rank ≥ 1.
// dst may be x.
func CheckLayerNorm(dst, x *Tensor) (rows, d int, err error) {
	c := checker{op: "layernorm"}
	c.f32("dst", dst)
	c.f32("x", x)
	c.minRank("x", x, 1)
	if c.ok() {
		c.shape("dst", dst, x.shape...)
	}
	c.sameOrDisjoint("dst", dst, "x", x)
	if !c.ok() {
		return 0, 0, c.err
	}
	rows, d = rowsOf(x)
	return rows, d, nil
}

// checkModShapes validates x [B, N, D], dst like x (may be x), and [B, D]
// per-batch vectors (shift/scale/gate); it returns B, N, D.
func checkModShapes(c *checker, dst, x *Tensor, names []string, vecs ...*Tensor) (b, n, d int) {
	return checkModShapesDst(c, false, dst, x, names, vecs...)
}

// checkModShapesDst is checkModShapes; bf16Dst also accepts a BFloat16
// dst, which must then be disjoint from x (no in-place across dtypes).
func checkModShapesDst(c *checker, bf16Dst bool, dst, x *Tensor, names []string, vecs ...*Tensor) (b, n, d int) {
	if bf16Dst {
		c.act("dst", dst)
	} else {
		c.f32("dst", dst)
	}
	c.f32("x", x)
	c.rank("x", x, 3)
	for i, v := range vecs {
		c.f32(names[i], v)
	}
	if !c.ok() {
		return 0, 0, 0
	}
	b, n, d = x.shape[0], x.shape[1], x.shape[2]
	for i, v := range vecs {
		if c.ok() && (v.Rank() != 2 || v.shape[0] != b || v.shape[1] != d) {
			c.fail("x %v and %s %v: want %s shape [%d %d]", x, names[i], v, names[i], b, d)
		}
		c.noOverlap("dst", dst, names[i], v)
	}
	c.shape("dst", dst, b, n, d)
	if dst.dtype != x.dtype {
		c.noOverlap("dst", dst, "x", x)
	}
	c.sameOrDisjoint("dst", dst, "x", x)
	return b, n, d
}

// CheckLayerNormModulate validates LayerNormModulate: x [B, N, D], shift
// and scale [B, D], dst [B, N, D] (may be x; Float32, or BFloat16 apart
// from x).
func CheckLayerNormModulate(dst, x, shift, scale *Tensor) (b, n, d int, err error) {
	c := checker{op: "layernorm modulate"}
	b, n, d = checkModShapesDst(&c, true, dst, x, []string{"shift", "scale"}, shift, scale)
	return b, n, d, c.err
}

// CheckModulate validates Modulate (same shapes as LayerNormModulate).
func CheckModulate(dst, x, shift, scale *Tensor) (b, n, d int, err error) {
	c := checker{op: "modulate"}
	b, n, d = checkModShapes(&c, dst, x, []string{"shift", "scale"}, shift, scale)
	return b, n, d, c.err
}

// CheckGatedAdd validates GatedAdd: x, y, dst [B, N, D] (dst may be x, not
// y unless y is x), gate [B, D].
func CheckGatedAdd(dst, x, gate, y *Tensor) (b, n, d int, err error) {
	c := checker{op: "gated add"}
	b, n, d = checkModShapes(&c, dst, x, []string{"gate"}, gate)
	c.f32("y", y)
	if c.ok() {
		c.shape("y", y, b, n, d)
	}
	c.sameOrDisjoint("dst", dst, "y", y)
	return b, n, d, c.err
}

// CheckRMSNorm validates RMSNorm: x and dst the same shape (dst may be x),
// optional w and b [D].
func CheckRMSNorm(dst, x, w, b *Tensor) (rows, d int, err error) {
	c := checker{op: "rmsnorm"}
	c.f32("dst", dst)
	c.f32("x", x)
	c.minRank("x", x, 1)
	if !c.ok() {
		return 0, 0, c.err
	}
	c.shape("dst", dst, x.shape...)
	c.sameOrDisjoint("dst", dst, "x", x)
	d = x.Dim(-1)
	if w != nil {
		c.float("w", w)
		c.shape("w", w, d)
		c.noOverlap("dst", dst, "w", w)
	}
	if b != nil {
		c.float("b", b)
		c.shape("b", b, d)
		c.noOverlap("dst", dst, "b", b)
	}
	if !c.ok() {
		return 0, 0, c.err
	}
	rows, d = rowsOf(x)
	return rows, d, nil
}

// CheckActivate validates Activate: same shape, known act, dst may be x.
func CheckActivate(dst, x *Tensor, act Act) (n int, err error) {
	c := checker{op: "activate " + act.String()}
	c.f32("dst", dst)
	c.f32("x", x)
	if c.ok() && act > ActReLU {
		c.fail("unknown activation %d", act)
	}
	if c.ok() {
		c.shape("dst", dst, x.shape...)
	}
	c.sameOrDisjoint("dst", dst, "x", x)
	if !c.ok() {
		return 0, c.err
	}
	return x.Len(), nil
}

// CheckGLU validates GLU: x [..., 2H], dst [..., H], no aliasing.
func CheckGLU(dst, x *Tensor, act Act) (rows, h int, err error) {
	c := checker{op: "glu " + act.String()}
	c.f32("dst", dst)
	c.f32("x", x)
	c.minRank("x", x, 1)
	if c.ok() && act > ActReLU {
		c.fail("unknown activation %d", act)
	}
	if c.ok() && x.Dim(-1)%2 != 0 {
		c.fail("x %v: last dimension %d is odd", x, x.Dim(-1))
	}
	if !c.ok() {
		return 0, 0, c.err
	}
	h = x.Dim(-1) / 2
	want := append(append([]int(nil), x.shape[:x.Rank()-1]...), h)
	c.shape("dst", dst, want...)
	c.noOverlap("dst", dst, "x", x)
	if !c.ok() {
		return 0, 0, c.err
	}
	if h > 0 {
		rows = x.Len() / (2 * h)
	}
	return rows, h, nil
}

// isSuffix reports whether suf equals the trailing dims of shape.
func isSuffix(suf, shape []int) bool {
	if len(suf) > len(shape) {
		return false
	}
	off := len(shape) - len(suf)
	for i, d := range suf {
		if shape[off+i] != d {
			return false
		}
	}
	return true
}

// CheckSoftmax validates Softmax: x [..., T], dst like x (may be x),
// optional Float32 mask whose shape is a suffix of x's (rank ≥ 1). It
// returns the row count, T, and the number of distinct mask rows (0 when
// mask is nil); row r uses mask row r % maskRows.
func CheckSoftmax(dst, x, mask *Tensor) (rows, t, maskRows int, err error) {
	c := checker{op: "softmax"}
	c.f32("dst", dst)
	c.f32("x", x)
	c.minRank("x", x, 1)
	if c.ok() {
		c.shape("dst", dst, x.shape...)
	}
	c.sameOrDisjoint("dst", dst, "x", x)
	if mask != nil {
		c.f32("mask", mask)
		c.minRank("mask", mask, 1)
		if c.ok() && !isSuffix(mask.shape, x.shape) {
			c.fail("x %v and mask %v: mask shape must be a suffix of x's", x, mask)
		}
		c.noOverlap("dst", dst, "mask", mask)
	}
	if !c.ok() {
		return 0, 0, 0, c.err
	}
	rows, t = rowsOf(x)
	if mask != nil && t > 0 {
		maskRows = mask.Len() / t
	}
	return rows, t, maskRows, nil
}

// CheckReduce validates Reduce: x [..., T] → dst [...]; T ≥ 1 for max.
func CheckReduce(dst, x *Tensor, op ReduceOp) (rows, t int, err error) {
	c := checker{op: "reduce"}
	c.f32("dst", dst)
	c.f32("x", x)
	c.minRank("x", x, 1)
	if c.ok() && (op < ReduceSum || op > ReduceMax) {
		c.fail("unknown reduce op %d", op)
	}
	if !c.ok() {
		return 0, 0, c.err
	}
	c.shape("dst", dst, x.shape[:x.Rank()-1]...)
	t = x.Dim(-1)
	if c.ok() && t == 0 && op != ReduceSum && dst.Len() > 0 {
		c.fail("x %v: cannot take mean or max of an empty axis", x)
	}
	c.noOverlap("dst", dst, "x", x)
	return dst.Len(), t, c.err
}
