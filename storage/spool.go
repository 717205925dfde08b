package storage

import (
	"errors"
	"fmt"
	"os"
)

// ErrSpool marks failures of the node's own spool files — a webdataset
// shard's tar, a large S3 upload — on its local temporary disk: full or
// unwritable there is the node's doing, not the job's, and another node
// may well write the same shard (node.ownFault). Failures of the output
// itself (a file:// output on a full shared disk, an S3 refusal) are not
// marked: they would fail on every node.
var ErrSpool = errors.New("the node's spool disk")

// createSpool is os.CreateTemp with its failure marked ErrSpool.
func createSpool(dir, pattern string) (*os.File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSpool, err)
	}
	return f, nil
}

// spoolWriter marks the write failures of a spool file ErrSpool, so that
// a copy into it tells them from failures of what it reads.
type spoolWriter struct{ f *os.File }

func (s spoolWriter) Write(p []byte) (int, error) {
	n, err := s.f.Write(p)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrSpool, err)
	}
	return n, err
}
