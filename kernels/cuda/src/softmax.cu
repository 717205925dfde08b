// Softmax over the last axis with optional soft-capping and an additive
// mask broadcast from a suffix shape, and Reduce (sum, mean, max) over the
// last axis. One thread block per row, grid-stride over rows.
#include "common.cuh"

// logit returns the capped, masked score of element j of row r.
static __device__ __forceinline__ float logit(const float *xr, const float *mr, int j, float cap) {
    float s = softcap(xr[j], cap);
    if (mr != nullptr) s += mr[j];
    return s;
}

// softmax: x, dst [rows, t]; mask null or [maskRows, t] where row r uses
// mask row r mod maskRows. A row whose scores are all −inf becomes zeros
// (as on the CPU); a NaN makes the whole row NaN. Three passes (max, sum,
// write) recompute the logits instead of staging them, so any t works;
// dst may be x because the last pass reads each element before writing it
// and the earlier passes finish (block reductions synchronize) first.
extern "C" __global__ void softmax(float *dst, const float *x, const float *mask, int64_t rows, int32_t t,
                                   int64_t maskRows, float cap) {
    __shared__ float sh[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *xr = x + r * t;
        const float *mr = mask != nullptr ? mask + (r % maskRows) * t : nullptr;
        float m = -INFINITY;
        for (int j = threadIdx.x; j < t; j += blockDim.x) m = nanmax(m, logit(xr, mr, j, cap));
        m = block_max(m, sh);
        float *o = dst + r * t;
        if (m == -INFINITY) {
            for (int j = threadIdx.x; j < t; j += blockDim.x) o[j] = 0.0f;
            continue;
        }
        float s = 0.0f;
        for (int j = threadIdx.x; j < t; j += blockDim.x) s += expf(logit(xr, mr, j, cap) - m);
        float inv = 1.0f / block_sum(s, sh);
        for (int j = threadIdx.x; j < t; j += blockDim.x) o[j] = expf(logit(xr, mr, j, cap) - m) * inv;
    }
}

// Reduce op codes: the numeric values of kernels.ReduceOp.
#define RED_SUM 1
#define RED_MEAN 2
#define RED_MAX 3

// reduce_last: x [rows, t] → dst [rows]; sum and mean accumulate in
// float64, max propagates NaN. t may be 0 only for sum (then 0).
extern "C" __global__ void reduce_last(float *dst, const float *x, int64_t rows, int32_t t, int32_t op) {
    __shared__ double shd[32];
    __shared__ float shf[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *xr = x + r * t;
        if (op == RED_MAX) {
            float m = -INFINITY;
            for (int j = threadIdx.x; j < t; j += blockDim.x) m = nanmax(m, xr[j]);
            m = block_max(m, shf);
            if (threadIdx.x == 0) dst[r] = m;
            continue;
        }
        double s = 0.0;
        for (int j = threadIdx.x; j < t; j += blockDim.x) s += (double)xr[j];
        s = block_sum_d(s, shd);
        if (op == RED_MEAN) s /= (double)t;
        if (threadIdx.x == 0) dst[r] = (float)s;
    }
}
