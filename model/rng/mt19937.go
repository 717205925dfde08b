package rng

// mtN, mtM and the constants below are those of the 32-bit Mersenne
// Twister MT19937 (Matsumoto & Nishimura 1998), which PyTorch's CPU
// generator uses.
const (
	mtN         = 624
	mtM         = 397
	mtMatrixA   = 0x9908b0df
	mtUpperMask = 0x80000000
	mtLowerMask = 0x7fffffff
)

// mt19937 is the generator state. The zero value is not usable; see
// newMT19937.
type mt19937 struct {
	state [mtN]uint32
	next  int
}

// newMT19937 seeds the generator the way std::mt19937 and at::mt19937 do
// (Knuth's multiplier 1812433253 over a 32-bit seed).
func newMT19937(seed uint32) *mt19937 {
	m := &mt19937{next: mtN}
	m.state[0] = seed
	for i := 1; i < mtN; i++ {
		prev := m.state[i-1]
		m.state[i] = 1812433253*(prev^(prev>>30)) + uint32(i)
	}
	return m
}

// twist regenerates the whole state block.
func (m *mt19937) twist() {
	for i := range mtN {
		y := (m.state[i] & mtUpperMask) | (m.state[(i+1)%mtN] & mtLowerMask)
		v := m.state[(i+mtM)%mtN] ^ (y >> 1)
		if y&1 != 0 {
			v ^= mtMatrixA
		}
		m.state[i] = v
	}
	m.next = 0
}

// uint32 returns the next tempered 32-bit output.
func (m *mt19937) uint32() uint32 {
	if m.next >= mtN {
		m.twist()
	}
	y := m.state[m.next]
	m.next++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// uint64 combines two outputs, the first one as the high word, as
// at::CPUGeneratorImpl::random64 does.
func (m *mt19937) uint64() uint64 {
	hi := m.uint32()
	lo := m.uint32()
	return uint64(hi)<<32 | uint64(lo)
}
