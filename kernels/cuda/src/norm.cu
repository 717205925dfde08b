// Row normalizations over the last axis: LayerNorm (optionally fused with
// adaLN modulation) and RMSNorm. One thread block per row (grid-stride
// over rows); statistics accumulate in float64 (two passes for the
// variance, so a mean far from zero costs no precision), then the row is
// normalized in float32 like the CPU backend. Rows are re-read from
// global memory for each pass; at D of a few thousand they stay in L1/L2.
// dst may equal x: each element is read before its own write, and the
// statistics passes finish (block_sum_d synchronizes) before any write.
#include "common.cuh"

// store_act writes element i of a float32 or bf16 (ddt) activation.
static __device__ __forceinline__ void store_act(void *dst, int ddt, int64_t i, float v) {
    if (ddt == DT_BF16) {
        ((uint16_t *)dst)[i] = bf16_rne(v);
    } else {
        ((float *)dst)[i] = v;
    }
}

// layernorm: x, dst [rows, d]. With shift and scale non-null (both [B, d]
// with n rows per batch), writes y + y·scale + shift (y the normalized
// value), the fused LayerNormModulate. dst is float32 or, apart from x,
// bf16 (ddt).
extern "C" __global__ void layernorm(void *dst, int32_t ddt, const float *x, int64_t rows, int32_t d, float eps,
                                     const float *shift, const float *scale, int64_t n) {
    __shared__ double sh[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *xr = x + r * d;
        double s1 = 0.0;
        for (int i = threadIdx.x; i < d; i += blockDim.x) s1 += (double)xr[i];
        double mean = block_sum_d(s1, sh) / (double)d;
        double s2 = 0.0;
        for (int i = threadIdx.x; i < d; i += blockDim.x) {
            double t = (double)xr[i] - mean;
            s2 += t * t;
        }
        double var = block_sum_d(s2, sh) / (double)d;
        float m = (float)mean, s = (float)(1.0 / sqrt(var + (double)eps));
        const int64_t o = r * d;
        if (shift != nullptr) {
            const float *shr = shift + (r / n) * d, *scr = scale + (r / n) * d;
            for (int i = threadIdx.x; i < d; i += blockDim.x) {
                float y = (xr[i] - m) * s;
                store_act(dst, ddt, o + i, y + y * scr[i] + shr[i]);
            }
        } else {
            for (int i = threadIdx.x; i < d; i += blockDim.x) store_act(dst, ddt, o + i, (xr[i] - m) * s);
        }
    }
}

// rmsnorm: dst = x/√(mean(x²) + eps)·w + b over rows of length d; w and b
// optional (null) of weight dtypes wdt/bdt; addOne uses (1 + w), the gain
// rounded to float32 first as the CPU backend does.
extern "C" __global__ void rmsnorm(float *dst, const float *x, const void *w, int32_t wdt, const void *b,
                                   int32_t bdt, int64_t rows, int32_t d, float eps, int32_t addOne) {
    __shared__ double sh[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *xr = x + r * d;
        double s2 = 0.0;
        for (int i = threadIdx.x; i < d; i += blockDim.x) {
            double v = (double)xr[i];
            s2 += v * v;
        }
        double ms = block_sum_d(s2, sh) / (double)d;
        float s = (float)(1.0 / sqrt(ms + (double)eps));
        float *o = dst + r * d;
        for (int i = threadIdx.x; i < d; i += blockDim.x) {
            float y = xr[i] * s;
            if (w != nullptr) {
                float g = ldw(w, wdt, i);
                y *= addOne ? 1.0f + g : g;
            }
            if (b != nullptr) y += ldw(b, bdt, i);
            o[i] = y;
        }
    }
}
