package kernels

import "slices"

// CheckBroadcast validates Add and Mul (op names which): a [..., S...],
// b [S...] a suffix of a's shape, dst like a (may be a; may not be b
// unless b is a). It returns the number of repetitions of b and b's size.
func CheckBroadcast(op string, dst, a, b *Tensor) (reps, inner int, err error) {
	c := checker{op: op}
	c.f32("dst", dst)
	c.f32("a", a)
	c.f32("b", b)
	if c.ok() && !isSuffix(b.shape, a.shape) {
		c.fail("a %v and b %v: b's shape must be a suffix of a's", a, b)
	}
	if c.ok() {
		c.shape("dst", dst, a.shape...)
	}
	c.sameOrDisjoint("dst", dst, "a", a)
	c.sameOrDisjoint("dst", dst, "b", b)
	if c.ok() && sameStorage(dst, b) && !SameShape(a, b) {
		c.fail("dst %v may not alias the broadcast operand b %v", dst, b)
	}
	if !c.ok() {
		return 0, 0, c.err
	}
	inner = b.Len()
	if inner == 0 {
		return 0, 0, nil
	}
	return a.Len() / inner, inner, nil
}

// CheckAxpby validates Axpby: a, b, dst the same shape; dst may be a or b.
func CheckAxpby(dst, a, b *Tensor) (n int, err error) {
	c := checker{op: "axpby"}
	c.f32("dst", dst)
	c.f32("a", a)
	c.f32("b", b)
	if c.ok() && !SameShape(a, b) {
		c.fail("a %v and b %v: shapes differ", a, b)
	}
	if c.ok() {
		c.shape("dst", dst, a.shape...)
	}
	c.sameOrDisjoint("dst", dst, "a", a)
	c.sameOrDisjoint("dst", dst, "b", b)
	if !c.ok() {
		return 0, c.err
	}
	return a.Len(), nil
}

// checkNHWC validates an x [B, H, W, C] → dst rearrangement with factor r.
func checkNHWC(c *checker, dst, x *Tensor, r int) (b, h, w, ch int) {
	c.f32("dst", dst)
	c.f32("x", x)
	c.rank("x", x, 4)
	if c.ok() && r < 1 {
		c.fail("factor %d must be at least 1", r)
	}
	c.noOverlap("dst", dst, "x", x)
	if !c.ok() {
		return 0, 0, 0, 0
	}
	return x.shape[0], x.shape[1], x.shape[2], x.shape[3]
}

// CheckPixelShuffle validates PixelShuffle: x [B, H, W, C·r²] → dst
// [B, H·r, W·r, C]. It returns B, H, W and C (output channels).
func CheckPixelShuffle(dst, x *Tensor, r int) (b, h, w, ch int, err error) {
	c := checker{op: "pixel shuffle"}
	b, h, w, ch = checkNHWC(&c, dst, x, r)
	if c.ok() && ch%(r*r) != 0 {
		c.fail("x %v: channels not divisible by r²=%d", x, r*r)
	}
	if !c.ok() {
		return 0, 0, 0, 0, c.err
	}
	ch /= r * r
	c.shape("dst", dst, b, h*r, w*r, ch)
	return b, h, w, ch, c.err
}

// CheckPixelUnshuffle validates PixelUnshuffle: x [B, H·r, W·r, C] → dst
// [B, H, W, C·r²]. It returns B, H, W (output spatial) and C (input
// channels).
func CheckPixelUnshuffle(dst, x *Tensor, r int) (b, h, w, ch int, err error) {
	c := checker{op: "pixel unshuffle"}
	b, h, w, ch = checkNHWC(&c, dst, x, r)
	if c.ok() && (h%r != 0 || w%r != 0) {
		c.fail("x %v: spatial size not divisible by %d", x, r)
	}
	if !c.ok() {
		return 0, 0, 0, 0, c.err
	}
	h, w = h/r, w/r
	c.shape("dst", dst, b, h, w, ch*r*r)
	return b, h, w, ch, c.err
}

// CheckUpsampleNearest2x validates UpsampleNearest2x: x [B, H, W, C] →
// dst [B, 2H, 2W, C].
func CheckUpsampleNearest2x(dst, x *Tensor) (b, h, w, ch int, err error) {
	c := checker{op: "upsample nearest 2x"}
	b, h, w, ch = checkNHWC(&c, dst, x, 2)
	c.shape("dst", dst, b, 2*h, 2*w, ch)
	return b, h, w, ch, c.err
}

// CheckRepeatChannels validates RepeatChannels: x [..., C] → dst [..., C·r].
func CheckRepeatChannels(dst, x *Tensor, r int) (rows, ch int, err error) {
	c := checker{op: "repeat channels"}
	c.f32("dst", dst)
	c.f32("x", x)
	c.minRank("x", x, 1)
	if c.ok() && r < 1 {
		c.fail("factor %d must be at least 1", r)
	}
	if !c.ok() {
		return 0, 0, c.err
	}
	want := slices.Clone(x.shape)
	want[len(want)-1] *= r
	c.shape("dst", dst, want...)
	c.noOverlap("dst", dst, "x", x)
	rows, ch = rowsOf(x)
	return rows, ch, c.err
}

// JoinDims describe a Concat or Split along one axis: the tensor is
// viewed as [Outer, sum(Sizes), Inner].
type JoinDims struct {
	Outer, Inner int
	Sizes        []int // each part's size along the axis
}

// checkJoin validates that parts (all of whole's dtype) stack along axis
// (negative counts from the end) into whole.
func checkJoin(c *checker, whole *Tensor, wname string, axis int, parts []*Tensor, pname string) JoinDims {
	c.present(wname, whole)
	if c.ok() && len(parts) == 0 {
		c.fail("no %ss", pname)
	}
	if !c.ok() {
		return JoinDims{}
	}
	r := whole.Rank()
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis >= r {
		c.fail("axis %d out of range for %s %v", axis, wname, whole)
		return JoinDims{}
	}
	jd := JoinDims{Outer: 1, Inner: 1, Sizes: make([]int, len(parts))}
	for _, d := range whole.shape[:axis] {
		jd.Outer *= d
	}
	for _, d := range whole.shape[axis+1:] {
		jd.Inner *= d
	}
	sum := 0
	for i, p := range parts {
		c.present(pname, p)
		if !c.ok() {
			return JoinDims{}
		}
		if p.dtype != whole.dtype || p.Rank() != r ||
			!slices.Equal(p.shape[:axis], whole.shape[:axis]) || !slices.Equal(p.shape[axis+1:], whole.shape[axis+1:]) {
			c.fail("%s %d %v does not match %s %v outside axis %d", pname, i, p, wname, whole, axis)
			return JoinDims{}
		}
		jd.Sizes[i] = p.shape[axis]
		sum += p.shape[axis]
	}
	if sum != whole.shape[axis] {
		c.fail("%s sizes along axis %d sum to %d, %s %v has %d", pname, axis, sum, wname, whole, whole.shape[axis])
	}
	return jd
}

// CheckConcat validates Concat: srcs (any one dtype) join along axis into
// dst, which may not alias any src.
func CheckConcat(dst *Tensor, axis int, srcs ...*Tensor) (JoinDims, error) {
	c := checker{op: "concat"}
	jd := checkJoin(&c, dst, "dst", axis, srcs, "src")
	for _, s := range srcs {
		c.noOverlap("dst", dst, "src", s)
	}
	return jd, c.err
}

// CheckSplit validates Split: src cuts along axis into dsts, none of which
// may alias src or each other.
func CheckSplit(dsts []*Tensor, axis int, src *Tensor) (JoinDims, error) {
	c := checker{op: "split"}
	jd := checkJoin(&c, src, "src", axis, dsts, "dst")
	for i, d := range dsts {
		c.noOverlap("dst", d, "src", src)
		for _, e := range dsts[:i] {
			c.noOverlap("dst", d, "dst", e)
		}
	}
	return jd, c.err
}

// CheckTranspose validates Transpose: x [..., M, N] (any dtype) → dst
// [..., N, M] of the same dtype.
func CheckTranspose(dst, x *Tensor) (batch, m, n int, err error) {
	c := checker{op: "transpose"}
	c.present("dst", dst)
	c.present("x", x)
	c.minRank("x", x, 2)
	if c.ok() && dst.dtype != x.dtype {
		c.fail("dst %v and x %v: dtypes differ", dst, x)
	}
	if !c.ok() {
		return 0, 0, 0, c.err
	}
	r := x.Rank()
	m, n = x.shape[r-2], x.shape[r-1]
	want := slices.Clone(x.shape)
	want[r-2], want[r-1] = n, m
	c.shape("dst", dst, want...)
	c.noOverlap("dst", dst, "x", x)
	if !c.ok() || m*n == 0 {
		return 0, m, n, c.err
	}
	return x.Len() / (m * n), m, n, nil
}
