package pth

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
)

// scalar handles the number and string opcodes.
func (m *machine) scalar(op byte) error {
	var n uint64
	var err error
	switch op {
	case 'K':
		n, err = m.u8()
		m.push(int64(n))
	case 'M':
		n, err = m.le(2)
		m.push(int64(n))
	case 'J':
		n, err = m.le(4)
		m.push(int64(int32(uint32(n))))
	case 0x8a: // LONG1
		return m.long1()
	case 'G': // BINFLOAT, big-endian
		var s []byte
		if s, err = m.take(8); err == nil {
			m.push(math.Float64frombits(binary.BigEndian.Uint64(s)))
		}
	case 'X', 0x8c, 0x8d, 'B', 'C', 0x8e: // strings and bytes
		return m.str(op)
	default:
		return fmt.Errorf("opcode is not allowed (only what tensors, dicts and lists need)")
	}
	return err
}

func (m *machine) long1() error {
	n, err := m.u8()
	if err != nil {
		return err
	}
	if n > maxLong {
		return fmt.Errorf("LONG1 of %d bytes is larger than int64", n)
	}
	s, err := m.take(n)
	if err != nil {
		return err
	}
	be := make([]byte, len(s))
	for i := range s {
		be[len(s)-1-i] = s[i]
	}
	v := new(big.Int).SetBytes(be)
	if n > 0 && s[n-1]&0x80 != 0 { // two's complement
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*n)))
	}
	if !v.IsInt64() {
		return fmt.Errorf("LONG1 value %s does not fit int64", v)
	}
	m.push(v.Int64())
	return nil
}

func (m *machine) str(op byte) error {
	var n uint64
	var err error
	switch op {
	case 0x8c, 'C': // SHORT_BINUNICODE, SHORT_BINBYTES
		n, err = m.u8()
	case 'X', 'B':
		n, err = m.le(4)
	default: // BINUNICODE8, BINBYTES8
		n, err = m.le(8)
	}
	if err != nil {
		return err
	}
	s, err := m.take(n)
	if err != nil {
		return err
	}
	if op == 'B' || op == 'C' || op == 0x8e {
		m.push(append([]byte(nil), s...))
	} else {
		m.push(string(s))
	}
	return nil
}
