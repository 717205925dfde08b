//go:build unix

package diskroom

import "golang.org/x/sys/unix"

func freeAt(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil // the field types differ by OS
}

// fsID names the file system holding path (its device number).
func fsID(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return uint64(st.Dev), nil // int32 on some systems
}
