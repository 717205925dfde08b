//go:build !unix

package diskroom

import "errors"

func freeAt(string) (int64, error) { return 0, errors.ErrUnsupported }

func fsID(string) (uint64, error) { return 0, errors.ErrUnsupported }
