//go:build cuda

package cuda

import (
	"fmt"
	"runtime"

	"gorgonia.org/cu"

	"github.com/sanafarm/sanafarm/kernels"
)

// Row-major tensors seen by column-major cuBLAS are transposed: a row-major
// [R, C] matrix is a column-major C×R matrix with leading dimension C. So
// dst = a·wᵀ (row-major M×N) is computed as dstᵀ = w·aᵀ (column-major N×M):
// GEMM(op(A)=Wᵀ-as-stored transposed, op(B)=N, m=N, n=M, k=K, A=w lda=K,
// B=a ldb=K, C=dst ldc=N).

// cudaType maps a float dtype to cudaDataType.
func cudaType(dt kernels.DType) int32 {
	switch dt {
	case kernels.BFloat16:
		return cudaR16BF
	case kernels.Float16:
		return cudaR16F
	}
	return cudaR32F
}

// MatMul computes dst[..., M, N] = a[..., M, K]·wᵀ + bias with w [N, K]
// (F32, BF16 or F16) and optional bias [N]. By default everything runs in
// float32 (16-bit weights are widened into scratch, then SGEMM without
// TF32) so results match the CPU backend to float32 rounding. With
// Config.FastMath, 16-bit weights multiply on tensor cores instead: a is
// rounded to w's dtype and cuBLAS accumulates in float32.
func (b *Backend) MatMul(dst, a, w, bias *kernels.Tensor) error {
	m, n, k, err := kernels.CheckMatMul(dst, a, w, bias)
	if err != nil {
		return err
	}
	err = b.with(func() error { return b.matmul(dst, a, w, bias, m, n, k) })
	runtime.KeepAlive([]*kernels.Tensor{dst, a, w, bias})
	if err != nil {
		return fmt.Errorf("cuda: matmul %v = %v·%vᵀ + %v: %w", dst, a, w, bias, err)
	}
	return nil
}

// matmul does MatMul's work inside with.
func (b *Backend) matmul(dst, a, w, bias *kernels.Tensor, m, n, k int) error {
	dp, ap, wp, err := b.ptrs3(dst, a, w)
	if err != nil {
		return err
	}
	if _, err := b.ptr(bias); err != nil {
		return err
	}
	if m == 0 || n == 0 {
		return nil
	}
	wd, ad := w.DType(), a.DType()
	tensorCores := b.cfg.FastMath && wd.IsHalf()
	// A bf16 activation multiplies as is on tensor cores with bf16 weights;
	// anywhere else it is widened first (exact).
	if ad == kernels.BFloat16 && !(tensorCores && wd == kernels.BFloat16) {
		p, release, err := b.castScratch(ap, kernels.BFloat16, kernels.Float32, m*k)
		if err != nil {
			return err
		}
		defer release()
		ap, ad = cu.DevicePtr(p), kernels.Float32
	}
	// cuBLAS writes a bf16 result itself from bf16 operands without a
	// bias; otherwise the float32 result goes through scratch and is
	// rounded into dst once, after the bias.
	direct16 := dst.DType() == kernels.BFloat16 && bias == nil && k > 0 && tensorCores && wd == kernels.BFloat16
	out := dp
	if dst.DType() == kernels.BFloat16 && !direct16 {
		p, release, err := b.scratch(m * n * 4)
		if err != nil {
			return err
		}
		defer release()
		out = p
	}
	if err := b.gemmInto(out, ap, wp, ad, wd, bias, m, n, k, direct16); err != nil {
		return err
	}
	if out != dp {
		return b.launch("cast_f32_to_bf16", gridFor(m*n, 256), [3]uint32{256, 1, 1}, 0, dp, out, int64(m*n))
	}
	return nil
}

// gemmInto computes the m×n product (+ bias) at out: float32, or bf16
// when out16 (bf16 operands, no bias). ap holds a of dtype ad (F32, or
// BF16 only with bf16 tensor-core weights).
func (b *Backend) gemmInto(out, ap, wp cu.DevicePtr, ad, wd kernels.DType, bias *kernels.Tensor, m, n, k int, out16 bool) error {
	if k == 0 { // empty sum: out = bias or 0
		if err := cu.MemsetD8Async(out, 0, int64(m*n*4), b.stream); err != nil {
			return err
		}
		return b.addBias(out, bias, m, n)
	}
	blas, err := b.blasHandle()
	if err != nil {
		return err
	}
	g := gemmArgs{transA: true, m: n, n: m, k: k, lda: k, ldb: k, ldc: n,
		a: uintptr(wp), b: uintptr(ap), c: uintptr(out), at: cudaR32F, bt: cudaR32F, ct: cudaR32F, alpha: 1}
	if out16 {
		g.ct = cudaR16BF
	}
	fuseBias := bias != nil && b.cfg.FastMath && wd.IsHalf() // tensor-core GEMM: try the bias epilogue
	if wd.IsHalf() {
		var release func()
		switch {
		case b.cfg.FastMath && ad == wd: // bf16 activation, bf16 weight: as is
			g.at, g.bt, release = cudaType(wd), cudaType(wd), func() {}
		case b.cfg.FastMath: // a → w's dtype, tensor-core GEMM
			g.b, release, err = b.castScratch(ap, kernels.Float32, wd, m*k)
			g.at, g.bt = cudaType(wd), cudaType(wd)
		default: // w → f32, SGEMM
			g.a, release, err = b.castScratch(wp, wd, kernels.Float32, n*k)
		}
		if err != nil {
			return err
		}
		defer release()
	}
	if fuseBias {
		bp, release, err := b.biasF32(bias, n)
		if err != nil {
			return err
		}
		defer release()
		if fused, err := blas.gemmBias(g, uintptr(bp)); fused || err != nil {
			return err
		}
	}
	if err := blas.gemm(g); err != nil {
		return err
	}
	return b.addBias(out, bias, m, n)
}

// biasF32 returns bias [n] as float32 device memory (a converted scratch
// copy for 16-bit biases) and its release func.
func (b *Backend) biasF32(bias *kernels.Tensor, n int) (cu.DevicePtr, func(), error) {
	bp, err := b.ptr(bias)
	if err != nil {
		return 0, nil, err
	}
	if bd := bias.DType(); bd.IsHalf() {
		p, release, err := b.castScratch(bp, bd, kernels.Float32, n)
		return cu.DevicePtr(p), release, err
	}
	return bp, func() {}, nil
}

// ptrs3 resolves three tensors' device addresses.
func (b *Backend) ptrs3(x, y, z *kernels.Tensor) (px, py, pz cu.DevicePtr, err error) {
	if px, err = b.ptr(x); err != nil {
		return
	}
	if py, err = b.ptr(y); err != nil {
		return
	}
	pz, err = b.ptr(z)
	return
}

// castScratch converts n elements at src from dtype from to dtype to into
// new scratch memory.
func (b *Backend) castScratch(src cu.DevicePtr, from, to kernels.DType, n int) (uintptr, func(), error) {
	name, ok := castKernels[[2]kernels.DType{from, to}]
	if !ok {
		return 0, nil, fmt.Errorf("no cast kernel %v→%v", from, to)
	}
	p, release, err := b.scratch(n * to.Size())
	if err != nil {
		return 0, nil, err
	}
	if err := b.launch(name, gridFor(n, 256), [3]uint32{256, 1, 1}, 0, p, src, int64(n)); err != nil {
		release()
		return 0, nil, err
	}
	return uintptr(p), release, nil
}

// addBias adds bias [n] (any float dtype; nil: nothing) to every row of the
// f32 matrix at dp [m, n] with the add_bias_rows kernel.
func (b *Backend) addBias(dp cu.DevicePtr, bias *kernels.Tensor, m, n int) error {
	if bias == nil {
		return nil
	}
	bp, release, err := b.biasF32(bias, n)
	if err != nil {
		return err
	}
	defer release()
	total := int64(m) * int64(n)
	return b.launch("add_bias_rows", gridFor(int(total), 256), [3]uint32{256, 1, 1}, 0, dp, bp, total, int64(n))
}

// BatchMatMul computes dst[i] = alpha·a[i]·op(b[i]) for a [Bt, M, K] and
// b [Bt, K, N] ([Bt, N, K] when transB), all float32, with one strided
// batched SGEMM: dstᵀ[i] = op(b[i])ᵀ·a[i]ᵀ in column-major terms.
func (b *Backend) BatchMatMul(dst, a, bt *kernels.Tensor, transB bool, alpha float32) error {
	nb, m, n, k, err := kernels.CheckBatchMatMul(dst, a, bt, transB)
	if err != nil {
		return err
	}
	err = b.with(func() error { return b.batchMatMul(dst, a, bt, transB, alpha, nb, m, n, k) })
	runtime.KeepAlive([]*kernels.Tensor{dst, a, bt})
	if err != nil {
		return fmt.Errorf("cuda: batch matmul %v = %v·%v (transB=%v): %w", dst, a, bt, transB, err)
	}
	return nil
}

// batchMatMul does BatchMatMul's work inside with.
func (b *Backend) batchMatMul(dst, a, bt *kernels.Tensor, transB bool, alpha float32, nb, m, n, k int) error {
	dp, ap, bp, err := b.ptrs3(dst, a, bt)
	if err != nil {
		return err
	}
	if nb == 0 || m == 0 || n == 0 {
		return nil
	}
	if k == 0 {
		return cu.MemsetD8Async(dp, 0, int64(nb*m*n*4), b.stream)
	}
	blas, err := b.blasHandle()
	if err != nil {
		return err
	}
	ldb := n
	if transB {
		ldb = k
	}
	return blas.gemm(gemmArgs{transA: transB, m: n, n: m, k: k,
		a: uintptr(bp), lda: ldb, strideA: int64(k) * int64(n),
		b: uintptr(ap), ldb: k, strideB: int64(m) * int64(k),
		c: uintptr(dp), ldc: n, strideC: int64(m) * int64(n),
		at: cudaR32F, bt: cudaR32F, ct: cudaR32F, alpha: alpha, batch: nb})
}
