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
	return walk(v.Elem(), map[uintptr]bool{}, func(v reflect.Value) error { return placeTensor(be, v) })
}

// DTypes counts the *kernels.Tensor fields reachable from root (as Place
// walks it; nil ones are skipped) by dtype: tests check which weights a
// model keeps in which dtype.
func DTypes(root any) map[kernels.DType]int {
	n := map[kernels.DType]int{}
	v := reflect.ValueOf(root)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return n
	}
	_ = walk(v.Elem(), map[uintptr]bool{}, func(v reflect.Value) error {
		n[v.Interface().(*kernels.Tensor).DType()]++
		return nil
	})
	return n
}

// walk calls fn on every non-nil *kernels.Tensor reachable from v (settable
// where v's struct is addressable), visiting each struct pointer once.
func walk(v reflect.Value, seen map[uintptr]bool, fn func(reflect.Value) error) error {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		if v.Type() == tensorPtr {
			return fn(v)
		}
		if seen[v.Pointer()] {
			return nil
		}
		seen[v.Pointer()] = true
		return walk(v.Elem(), seen, fn)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Field(i)
			if !f.CanSet() && f.CanAddr() { // unexported field of an addressable struct
				f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
			}
			if err := walk(f, seen, fn); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := walk(v.Index(i), seen, fn); err != nil {
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
