package protocol

import (
	"crypto/rand"
	"encoding/hex"
)

// NewJobID returns a fresh job id, "j-" + 16 random hex digits. The
// coordinator assigns one to a job submitted without an id, and clients
// pick one before the first try so that a retried submit stays idempotent.
func NewJobID() JobID {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return JobID("j-" + hex.EncodeToString(b[:]))
}
