// Package readcap reads whole files that come from outside (a Hub repo, a
// mirror, a job's location) with a bound on their size, checked before
// the bytes are read where the size is known: a repo's 100 GiB
// tokenizer.json must fail with its size named, not take the node's memory
// (docs/architecture.md §7).
package readcap

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// TooLarge is the error of a file past its bound.
type TooLarge struct {
	Name      string
	Size, Max int64 // Size is -1 when only reading found it too large
}

func (e *TooLarge) Error() string {
	if e.Size < 0 {
		return fmt.Sprintf("%s is larger than %d bytes, the most it may be", e.Name, e.Max)
	}
	return fmt.Sprintf("%s is %d bytes, more than the %d it may be", e.Name, e.Size, e.Max)
}

// File reads the file at path if it holds at most max bytes.
func File(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return read(f, path, max)
}

// FS reads name from fsys if it holds at most max bytes.
func FS(fsys fs.FS, name string, max int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return read(f, name, max)
}

func read(f fs.File, name string, max int64) ([]byte, error) {
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > max {
		return nil, &TooLarge{Name: name, Size: st.Size(), Max: max}
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, &TooLarge{Name: name, Size: -1, Max: max}
	}
	return b, nil
}
