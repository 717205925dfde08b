// Shared device helpers for the sanafarm CUDA kernels. Every .cu file in
// this directory is compiled on its own to PTX (nvcc -ptx), so helpers live
// here as static inline functions.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

// Weight dtype codes: the numeric values of kernels.DType, so the Go side
// passes int32(t.DType()) unchanged.
#define DT_F32 1
#define DT_BF16 2
#define DT_F16 3

// Index dtype codes (kernels.Int64, kernels.Int32).
#define DT_I64 4
#define DT_I32 5

// ldw reads element i of a weight of dtype dt, widened to float32 exactly:
// bf16 is the high half of a float32, fp16 goes through the hardware
// conversion. A null pointer reads as 0 (optional weights pass null).
static __device__ __forceinline__ float ldw(const void *p, int dt, int64_t i) {
    if (dt == DT_BF16) {
        return __uint_as_float((uint32_t)((const uint16_t *)p)[i] << 16);
    }
    if (dt == DT_F16) {
        return __half2float(((const __half *)p)[i]);
    }
    return ((const float *)p)[i];
}

// bf16_rne narrows a float32 to bfloat16 bits with round-to-nearest-even,
// bit-identical to kernels.F32ToBF16 (NaN keeps its sign, becomes quiet).
static __device__ __forceinline__ uint16_t bf16_rne(float f) {
    uint32_t b = __float_as_uint(f);
    if ((b & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(b >> 16) | 0x0040u;
    b += 0x7fffu + ((b >> 16) & 1u);
    return (uint16_t)(b >> 16);
}

// ldidx reads element i of an Int64 or Int32 index tensor.
static __device__ __forceinline__ int64_t ldidx(const void *p, int dt, int64_t i) {
    if (dt == DT_I32) {
        return (int64_t)((const int32_t *)p)[i];
    }
    return ((const int64_t *)p)[i];
}

// nanmax returns the larger of a and b, propagating NaN (fmaxf would drop
// it), to match the CPU backend where a NaN poisons a row maximum.
static __device__ __forceinline__ float nanmax(float a, float b) {
    return (a > b || a != a) ? a : b;
}

static __device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ double warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = nanmax(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Block-wide reductions for blocks of up to 1024 threads (a multiple of
// 32). Every thread of the block must call them; all get the result. sh
// must hold 32 elements; the trailing __syncthreads lets callers reuse it.
static __device__ __forceinline__ float block_sum(float v, float *sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0) sh[w] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0.0f;
    v = warp_sum(v);
    __syncthreads();
    return v;
}

static __device__ __forceinline__ double block_sum_d(double v, double *sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum_d(v);
    if (lane == 0) sh[w] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0.0;
    v = warp_sum_d(v);
    __syncthreads();
    return v;
}

static __device__ __forceinline__ float block_max(float v, float *sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max(v);
    if (lane == 0) sh[w] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : -INFINITY;
    v = warp_max(v);
    __syncthreads();
    return v;
}

// Grid-stride loop over [0, n) with 64-bit indices.
#define FOR_N(i, n)                                                              \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (int64_t)blockDim.x * gridDim.x)

// softcap applies s = c·tanh(s/c) in float64 (like the CPU backend) so the
// capped logits carry no more than float32 rounding; c ≤ 0 disables it.
static __device__ __forceinline__ float softcap(float s, float c) {
    if (c > 0.0f) {
        double cd = (double)c;
        s = (float)(cd * tanh((double)s / cd));
    }
    return s;
}
