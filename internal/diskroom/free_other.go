//go:build !unix

package diskroom

import "errors"

func free(string) (int64, error) { return 0, errors.ErrUnsupported }
