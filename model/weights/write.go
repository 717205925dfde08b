package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/sanafarm/sanafarm/kernels"
)

// Write encodes host tensors as a safetensors file (tensors in sorted name
// order, header padded to 8 bytes as the reference writer does). It is used
// to build test fixtures and the random-weight sana-tiny preset.
func Write(w io.Writer, tensors map[string]*kernels.Tensor, metadata map[string]string) error {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	header := make(map[string]any, len(names)+1)
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var off int64
	for _, n := range names {
		t := tensors[n]
		if t == nil || !t.OnHost() {
			return fmt.Errorf("writing safetensors: tensor %q is nil or not on the host", n)
		}
		size := int64(t.Len() * t.DType().Size())
		header[n] = rawEntry{DType: t.DType().String(), Shape: shape64(t.Shape()), DataOffsets: []int64{off, off + size}}
		off += size
	}
	js, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("writing safetensors header: %w", err)
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	var buf bytes.Buffer
	_ = binary.Write(&buf, binary.LittleEndian, uint64(len(js)))
	buf.Write(js)
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("writing safetensors header: %w", err)
	}
	for _, n := range names {
		if _, err := w.Write(encodeLE(tensors[n])); err != nil {
			return fmt.Errorf("writing safetensors tensor %q: %w", n, err)
		}
	}
	return nil
}

func shape64(s []int) []int64 {
	out := make([]int64, len(s))
	for i, d := range s {
		out[i] = int64(d)
	}
	return out
}

func encodeLE(t *kernels.Tensor) []byte {
	b := make([]byte, t.Len()*t.DType().Size())
	switch t.DType() {
	case kernels.Float32:
		for i, v := range t.F32() {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
	case kernels.BFloat16, kernels.Float16:
		for i, v := range t.U16() {
			binary.LittleEndian.PutUint16(b[2*i:], v)
		}
	case kernels.Int64:
		for i, v := range t.I64() {
			binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
		}
	case kernels.Int32:
		for i, v := range t.I32() {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
		}
	}
	return b
}
