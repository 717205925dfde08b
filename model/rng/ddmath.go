package rng

import "math"

// This file holds correctly rounded (up to double-double accuracy, about
// 2^-104 relative) natural log, sine and cosine for float64. PyTorch's
// float64 randn calls glibc's log/sin/cos; those are accurate to within
// about half an ulp but not always correctly rounded, so the float64
// results agree with PyTorch except for rare last-bit differences.

// dd is an unevaluated sum hi+lo with |lo| <= ulp(hi)/2.
type dd struct{ hi, lo float64 }

func twoSum(a, b float64) dd {
	s := a + b
	v := s - a
	return dd{s, (a - (s - v)) + (b - v)}
}

func quickTwoSum(a, b float64) dd {
	s := a + b
	return dd{s, b - (s - a)}
}

func twoProd(a, b float64) dd {
	p := float64(a * b)
	return dd{p, math.FMA(a, b, -p)}
}

func (x dd) add(y dd) dd {
	s := twoSum(x.hi, y.hi)
	t := twoSum(x.lo, y.lo)
	s.lo += t.hi
	s = quickTwoSum(s.hi, s.lo)
	s.lo += t.lo
	return quickTwoSum(s.hi, s.lo)
}

func (x dd) neg() dd { return dd{-x.hi, -x.lo} }

func (x dd) mul(y dd) dd {
	p := twoProd(x.hi, y.hi)
	p.lo += float64(x.hi*y.lo) + float64(x.lo*y.hi)
	return quickTwoSum(p.hi, p.lo)
}

func (x dd) mulF(y float64) dd {
	p := twoProd(x.hi, y)
	p.lo += float64(x.lo * y)
	return quickTwoSum(p.hi, p.lo)
}

func (x dd) div(y dd) dd {
	q1 := x.hi / y.hi
	r := x.add(y.mulF(q1).neg())
	q2 := r.hi / y.hi
	r = r.add(y.mulF(q2).neg())
	q3 := r.hi / y.hi
	q := quickTwoSum(q1, q2)
	return q.add(dd{q3, 0})
}

// Constants in double-double: ln 2 and π/2 (the latter as three parts).
var (
	ln2DD   = dd{0x1.62e42fefa39efp-1, 0x1.abc9e3b39803fp-56}
	pio2DD  = dd{0x1.921fb54442d18p+0, 0x1.1a62633145c07p-54}
	pio2Low = -0x1.f1976b7ed8fbcp-110
)

// invFactorials holds 1/n! for n = 0..31 in double-double.
var invFactorials = func() [32]dd {
	var t [32]dd
	t[0] = dd{1, 0}
	for n := 1; n < len(t); n++ {
		t[n] = t[n-1].div(dd{float64(n), 0})
	}
	return t
}()

// invOdd holds 1/(2k+1) for k = 0..21 in double-double (the atanh series).
var invOdd = func() [22]dd {
	var t [22]dd
	for k := range t {
		t[k] = dd{1, 0}.div(dd{float64(2*k + 1), 0})
	}
	return t
}()

// logCR returns log(x) for finite x > 0, correctly rounded in all but
// astronomically rare cases. Other inputs follow math.Log.
func logCR(x float64) float64 {
	if !(x > 0) || math.IsInf(x, 1) {
		return math.Log(x)
	}
	m, e := math.Frexp(x) // m in [0.5, 1)
	if m < math.Sqrt2/2 {
		m *= 2
		e--
	}
	// log m = 2 atanh(t), t = (m-1)/(m+1), |t| <= 0.1716: the series
	// t + t^3/3 + ... reaches 2^-106 relative after 22 terms.
	t := dd{m - 1, 0}.div(twoSum(m, 1))
	t2 := t.mul(t)
	sum := invOdd[len(invOdd)-1]
	for k := len(invOdd) - 2; k >= 0; k-- {
		sum = sum.mul(t2).add(invOdd[k])
	}
	r := sum.mul(t).mulF(2)
	r = r.add(ln2DD.mulF(float64(e)))
	return r.hi + r.lo
}

// sinCosCR returns sin(x) and cos(x), correctly rounded in all but
// astronomically rare cases, for |x| <= 2^20; larger or non-finite
// arguments fall back to math.Sincos.
func sinCosCR(x float64) (sin, cos float64) {
	if !(math.Abs(x) <= 1<<20) {
		return math.Sincos(x)
	}
	// r = x - k·π/2 with |r| <= π/4 (π/2 carried to about 160 bits).
	k := math.Round(x / pio2DD.hi)
	r := dd{x, 0}.add(pio2DD.mulF(-k)).add(dd{-k * pio2Low, 0})
	r2 := r.mul(r)
	// Taylor series to r^31: 2^-110 relative for |r| <= π/4.
	s, c := invFactorials[31].neg(), invFactorials[30].neg()
	for n := 29; n >= 1; n -= 2 {
		s = s.mul(r2).add(signed(invFactorials[n], n/2))
		c = c.mul(r2).add(signed(invFactorials[n-1], (n-1)/2))
	}
	s = s.mul(r)
	switch int64(k) & 3 {
	case 1:
		s, c = c, s.neg()
	case 2:
		s, c = s.neg(), c.neg()
	case 3:
		s, c = c.neg(), s
	}
	return s.hi + s.lo, c.hi + c.lo
}

// signed returns x for even k and -x for odd k.
func signed(x dd, k int) dd {
	if k%2 != 0 {
		return x.neg()
	}
	return x
}
