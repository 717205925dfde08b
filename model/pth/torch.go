package pth

import (
	"fmt"
	"math"

	"github.com/sanafarm/sanafarm/kernels"
)

// storageTypes are the torch.<X>Storage globals a checkpoint may name:
// the safetensors spelling of the element type, its size and the kernels
// dtype (0 for types sanafarm cannot compute with: such tensors are listed
// but refused when read).
var storageTypes = map[string]struct {
	raw   string
	size  int
	dtype kernels.DType
}{
	"FloatStorage":    {"F32", 4, kernels.Float32},
	"HalfStorage":     {"F16", 2, kernels.Float16},
	"BFloat16Storage": {"BF16", 2, kernels.BFloat16},
	"DoubleStorage":   {"F64", 8, 0},
	"LongStorage":     {"I64", 8, kernels.Int64},
	"IntStorage":      {"I32", 4, kernels.Int32},
	"ShortStorage":    {"I16", 2, 0},
	"CharStorage":     {"I8", 1, 0},
	"ByteStorage":     {"U8", 1, 0},
	"BoolStorage":     {"BOOL", 1, 0},
}

// resolveGlobal is the allow-list: the globals torch.save writes for
// tensors, parameters and their storages, and OrderedDict.
func resolveGlobal(mod, name string) error {
	switch mod + "." + name {
	case "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter":
		return nil
	case "torch.storage._load_from_bytes":
		return fmt.Errorf("global torch.storage._load_from_bytes (a storage pickled in the legacy format) is refused: " +
			"re-save the checkpoint with torch.save's default zip format")
	}
	if _, ok := storageTypes[name]; ok && mod == "torch" {
		return nil
	}
	return fmt.Errorf("global %s.%s is refused (allowed: torch tensors, parameters, storages and collections.OrderedDict)", mod, name)
}

// storage is one data/<key> member of the archive.
type storage struct {
	key   string
	typ   string // FloatStorage, ...
	numel int64
}

// Tensor is a tensor of the checkpoint, not yet read: a contiguous view
// of a storage.
type Tensor struct {
	st     *storage
	offset int64 // in elements
	shape  []int
}

func (t *Tensor) numel() int64 {
	n := int64(1)
	for _, d := range t.shape {
		n *= int64(d)
	}
	return n
}

// call runs an allowed global with its REDUCE arguments, in Go.
func call(g global, args tuple) (any, error) {
	switch g.module + "." + g.name {
	case "collections.OrderedDict":
		if len(args) != 0 {
			return nil, fmt.Errorf("OrderedDict with %d arguments (only the empty one is built)", len(args))
		}
		return newDict(), nil
	case "torch._utils._rebuild_tensor_v2":
		return rebuildTensor(args)
	case "torch._utils._rebuild_parameter":
		if len(args) < 1 {
			return nil, fmt.Errorf("_rebuild_parameter without a tensor")
		}
		t, ok := args[0].(*Tensor)
		if !ok {
			return nil, fmt.Errorf("_rebuild_parameter of a %s, not a tensor", kindOf(args[0]))
		}
		return t, nil
	}
	return nil, fmt.Errorf("global %s.%s cannot be called", g.module, g.name)
}

// rebuildTensor checks _rebuild_tensor_v2(storage, offset, size, stride,
// requires_grad, hooks[, metadata]): sizes bounded by the storage,
// row-major strides only.
func rebuildTensor(args tuple) (*Tensor, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 with %d arguments, want at least 4", len(args))
	}
	st, ok := args[0].(*storage)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2 of a %s, not a storage", kindOf(args[0]))
	}
	off, ok := args[1].(int64)
	if !ok || off < 0 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 storage offset %v is not a non-negative integer", args[1])
	}
	size, err1 := ints(args[2])
	stride, err2 := ints(args[3])
	if err1 != nil || err2 != nil || len(size) != len(stride) {
		return nil, fmt.Errorf("_rebuild_tensor_v2 size %v / stride %v are not integer tuples of one length", args[2], args[3])
	}
	t := &Tensor{st: st, offset: off, shape: make([]int, len(size))}
	n, want := int64(1), int64(1)
	for i := len(size) - 1; i >= 0; i-- {
		if size[i] < 0 || (size[i] > 0 && n > math.MaxInt32*int64(1<<20)/size[i]) {
			return nil, fmt.Errorf("tensor size %v is negative or too large", size)
		}
		if size[i] > 1 && stride[i] != want {
			return nil, fmt.Errorf("tensor of size %v has strides %v: only contiguous tensors are supported", size, stride)
		}
		want *= size[i]
		n *= size[i]
		t.shape[i] = int(size[i])
	}
	if off > st.numel || n > st.numel-off {
		return nil, fmt.Errorf("tensor of size %v at offset %d overruns storage %s of %d elements", size, off, st.key, st.numel)
	}
	return t, nil
}

func ints(v any) ([]int64, error) {
	tp, ok := v.(tuple)
	if !ok {
		return nil, fmt.Errorf("not a tuple")
	}
	out := make([]int64, len(tp))
	for i, x := range tp {
		n, ok := x.(int64)
		if !ok {
			return nil, fmt.Errorf("element %d is not an integer", i)
		}
		out[i] = n
	}
	return out, nil
}
