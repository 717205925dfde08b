package kernels

// MixFFNDims are the sizes of a MixFFNConv call.
type MixFFNDims struct{ B, H, W, C int }

// CheckMixFFNConv validates MixFFNConv: u [B, H, W, 2C] and dst [B, H, W,
// C] Float32, dwW [2C, 3, 3, 1] any float dtype, inBias and dwBias [2C]
// any float dtype or nil; dst must not overlap u.
func CheckMixFFNConv(dst, u, inBias, dwW, dwBias *Tensor) (MixFFNDims, error) {
	c := checker{op: "mix-ffn conv"}
	c.act("dst", dst)
	c.act("u", u)
	c.rank("u", u, 4)
	c.float("dwW", dwW)
	if !c.ok() {
		return MixFFNDims{}, c.err
	}
	if u.Dim(3)%2 != 0 {
		c.fail("u %v: channel count %d is odd (value and gate halves)", u, u.Dim(3))
		return MixFFNDims{}, c.err
	}
	d := MixFFNDims{B: u.Dim(0), H: u.Dim(1), W: u.Dim(2), C: u.Dim(3) / 2}
	c.shape("dwW", dwW, 2*d.C, 3, 3, 1)
	for _, b := range []struct {
		name string
		t    *Tensor
	}{{"inBias", inBias}, {"dwBias", dwBias}} {
		if b.t != nil {
			c.float(b.name, b.t)
			c.shape(b.name, b.t, 2*d.C)
		}
	}
	c.shape("dst", dst, d.B, d.H, d.W, d.C)
	c.noOverlap("dst", dst, "u", u)
	if !c.ok() {
		return MixFFNDims{}, c.err
	}
	return d, nil
}
