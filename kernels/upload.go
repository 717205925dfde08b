package kernels

import "fmt"

// uploader is implemented by backends with their own memory (CUDA): it
// returns t in the backend's memory, copying it there when needed.
type uploader interface {
	Upload(t *Tensor) (*Tensor, error)
}

// Upload returns t in be's memory: host tensors are copied to a device
// backend once; a host backend (CPU) gets t itself, without a copy.
func Upload(be Backend, t *Tensor) (*Tensor, error) {
	if t == nil {
		return nil, nil
	}
	if up, ok := be.(uploader); ok {
		return up.Upload(t)
	}
	if !t.OnHost() {
		return nil, fmt.Errorf("kernels: upload: %v is in another backend's memory", t)
	}
	return t, nil
}

// Download returns t as a host tensor, copying it off be's device when
// needed (a host tensor is returned as is).
func Download(be Backend, t *Tensor) (*Tensor, error) {
	if t == nil || t.OnHost() {
		return t, nil
	}
	h, err := New(t.DType(), t.Shape()...)
	if err != nil {
		return nil, err
	}
	if err := be.Copy(h, t); err != nil {
		return nil, fmt.Errorf("kernels: download %v: %w", t, err)
	}
	return h, nil
}
