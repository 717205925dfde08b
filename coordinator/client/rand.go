package client

import (
	"crypto/rand"
	"encoding/binary"
)

func randUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}
