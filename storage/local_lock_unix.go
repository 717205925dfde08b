//go:build unix

package storage

import (
	"os"
	"syscall"
)

// canLock: temporary files are locked (flock) while written, so a sweep
// tells a live writer's file from a dead one's at once.
const canLock = true

// lockTemp takes an exclusive lock on f without waiting; the lock lasts
// until f is closed (or its process dies). With hold false it is a probe:
// nil means no one else holds the file.
func lockTemp(f *os.File, hold bool) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	err = rc.Control(func(fd uintptr) {
		lerr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
		if lerr == nil && !hold {
			lerr = syscall.Flock(int(fd), syscall.LOCK_UN)
		}
	})
	if err != nil {
		return err
	}
	return lerr
}
