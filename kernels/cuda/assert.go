//go:build cuda

package cuda

import "github.com/sanafarm/sanafarm/kernels"

// The GPU backend implements every op of the interface.
var _ kernels.Backend = (*Backend)(nil)
