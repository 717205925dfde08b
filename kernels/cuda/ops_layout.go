//go:build cuda

package cuda

import (
	"fmt"

	"github.com/sanafarm/sanafarm/kernels"
)

// Data-movement ops (src/layout.cu). Concat, Split and Transpose accept
// any dtype (kernels for 2-, 4- and 8-byte elements).

// PixelShuffle rearranges x [B, H, W, C·r²] into dst [B, H·r, W·r, C].
func (b *Backend) PixelShuffle(dst, x *kernels.Tensor, r int) error {
	nb, h, w, c, err := kernels.CheckPixelShuffle(dst, x, r)
	if err != nil {
		return err
	}
	return b.nhwc("pixel shuffle", "pixel_shuffle", dst, x, r, nb, h, w, c)
}

// PixelUnshuffle rearranges x [B, H·r, W·r, C] into dst [B, H, W, C·r²].
func (b *Backend) PixelUnshuffle(dst, x *kernels.Tensor, r int) error {
	nb, h, w, c, err := kernels.CheckPixelUnshuffle(dst, x, r)
	if err != nil {
		return err
	}
	return b.nhwc("pixel unshuffle", "pixel_unshuffle", dst, x, r, nb, h, w, c)
}

// UpsampleNearest2x doubles H and W of x [B, H, W, C].
func (b *Backend) UpsampleNearest2x(dst, x *kernels.Tensor) error {
	nb, h, w, c, err := kernels.CheckUpsampleNearest2x(dst, x)
	if err != nil {
		return err
	}
	return b.nhwc("upsample nearest 2x", "upsample_nearest2x", dst, x, 0, nb, h, w, c)
}

// nhwc runs one of the NHWC rearrangement kernels, which take (dst, x, B,
// H, W, C[, r]) and one thread per element of dst; r == 0 omits r.
func (b *Backend) nhwc(op, kernel string, dst, x *kernels.Tensor, r, nb, h, w, c int) error {
	if err := b.device(op, dst, x); err != nil {
		return err
	}
	if err := b.noAlias(op, dst, x); err != nil {
		return err
	}
	if err := fit32(op, nb, h, w, c, r); err != nil {
		return err
	}
	args := []any{dst, x, int32(nb), int32(h), int32(w), int32(c)}
	if r > 0 {
		args = append(args, int32(r))
	}
	return b.runN(op, kernel, dst.Len(), args...)
}

// RepeatChannels repeats each channel of x [..., C] r times into dst
// [..., C·r].
func (b *Backend) RepeatChannels(dst, x *kernels.Tensor, r int) error {
	rows, c, err := kernels.CheckRepeatChannels(dst, x, r)
	if err != nil {
		return err
	}
	const op = "repeat channels"
	if err := b.device(op, dst, x); err != nil {
		return err
	}
	if err := b.noAlias(op, dst, x); err != nil {
		return err
	}
	return b.runN(op, "repeat_channels", dst.Len(), dst, x, int64(rows), int64(c), int64(r))
}

// copyRows launches copy_rows for outer rows of n elements of dtype dt.
func (b *Backend) copyRows(op string, dt kernels.DType, dst, src *kernels.Tensor, outer, n, dstride, doff, sstride, soff int) error {
	name, err := elemKernel("copy_rows", dt)
	if err != nil {
		return fmt.Errorf("cuda: %s: %w", op, err)
	}
	return b.runN(op, name, outer*n, dst, src, int64(outer), int64(n),
		int64(dstride), int64(doff), int64(sstride), int64(soff))
}

// Concat joins srcs along axis into dst: per source, one strided row copy
// of its [Outer, size·Inner] block into dst [Outer, total·Inner].
func (b *Backend) Concat(dst *kernels.Tensor, axis int, srcs ...*kernels.Tensor) error {
	jd, err := kernels.CheckConcat(dst, axis, srcs...)
	if err != nil {
		return err
	}
	const op = "concat"
	if err := b.device(op, append([]*kernels.Tensor{dst}, srcs...)...); err != nil {
		return err
	}
	if err := b.noAlias(op, dst, srcs...); err != nil {
		return err
	}
	total := dst.Len() / max(jd.Outer, 1)
	off := 0
	for i, s := range srcs {
		n := jd.Sizes[i] * jd.Inner
		if err := b.copyRows(op, dst.DType(), dst, s, jd.Outer, n, total, off, n, 0); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// Split cuts src along axis into dsts, the inverse of Concat.
func (b *Backend) Split(dsts []*kernels.Tensor, axis int, src *kernels.Tensor) error {
	jd, err := kernels.CheckSplit(dsts, axis, src)
	if err != nil {
		return err
	}
	const op = "split"
	if err := b.device(op, append([]*kernels.Tensor{src}, dsts...)...); err != nil {
		return err
	}
	for i, d := range dsts {
		if err := b.noAlias(op, d, append([]*kernels.Tensor{src}, dsts[:i]...)...); err != nil {
			return err
		}
	}
	total := src.Len() / max(jd.Outer, 1)
	off := 0
	for i, d := range dsts {
		n := jd.Sizes[i] * jd.Inner
		if err := b.copyRows(op, src.DType(), d, src, jd.Outer, n, n, 0, total, off); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// Transpose swaps the last two axes: x [..., M, N] → dst [..., N, M], any
// dtype, through 32×32 shared-memory tiles.
func (b *Backend) Transpose(dst, x *kernels.Tensor) error {
	nb, m, n, err := kernels.CheckTranspose(dst, x)
	if err != nil {
		return err
	}
	const op = "transpose"
	if err := b.device(op, dst, x); err != nil {
		return err
	}
	if err := b.noAlias(op, dst, x); err != nil {
		return err
	}
	if nb == 0 {
		return nil
	}
	name, err := elemKernel("transpose", x.DType())
	if err != nil {
		return fmt.Errorf("cuda: %s: %w", op, err)
	}
	grid := [3]uint32{uint32(ceilDiv(n, 32)), uint32(min(ceilDiv(m, 32), 65535)), uint32(min(nb, 65535))}
	return b.run(op, name, grid, [3]uint32{32, 8, 1}, 0, dst, x, int64(nb), int64(m), int64(n))
}
