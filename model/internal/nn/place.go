package nn

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/sanafarm/sanafarm/kernels"
)

var tensorPtr = reflect.TypeOf((*kernels.Tensor)(nil))

// Place moves every *kernels.Tensor reachable from root (a pointer to a
// weights struct: fields, nested structs, pointers, slices, arrays) into
// be's memory, in place. A host backend keeps the host tensors (no copy).
// The weight structs keep their fields unexported, so the walk writes them
// through their addresses; it is only ever applied to our own weights.
func Place(be kernels.Backend, root any) error {
	v := reflect.ValueOf(root)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return fmt.Errorf("placing weights: need a non-nil pointer, got %T", root)
	}
	return place(be, v.Elem(), map[uintptr]bool{})
}

func place(be kernels.Backend, v reflect.Value, seen map[uintptr]bool) error {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		if v.Type() == tensorPtr {
			return placeTensor(be, v)
		}
		if seen[v.Pointer()] {
			return nil
		}
		seen[v.Pointer()] = true
		return place(be, v.Elem(), seen)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Field(i)
			if !f.CanSet() && f.CanAddr() { // unexported field of an addressable struct
				f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
			}
			if err := place(be, f, seen); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := place(be, v.Index(i), seen); err != nil {
				return err
			}
		}
	}
	return nil
}

func placeTensor(be kernels.Backend, v reflect.Value) error {
	t := v.Interface().(*kernels.Tensor)
	d, err := kernels.Upload(be, t)
	if err != nil {
		return fmt.Errorf("placing weight %v on %s: %w", t, be.Name(), err)
	}
	if d != t && v.CanSet() {
		v.Set(reflect.ValueOf(d))
	}
	return nil
}
