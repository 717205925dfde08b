// Elementwise kernels: dtype casts (used by Copy), MatMul's bias rows,
// broadcast add/mul, axpby, adaLN modulate, gated residual add,
// activations and GLU. All use 64-bit grid-stride loops; each output
// element depends only on inputs at the same index (or a broadcast
// operand), so every kernel may run in place on its first operand.
#include "common.cuh"

// Activation codes: the numeric values of kernels.Act.
#define ACT_NONE 0
#define ACT_SILU 1
#define ACT_GELU_TANH 2
#define ACT_RELU 3

// act applies an activation in float32 with full-precision expf.
static __device__ __forceinline__ float act(float x, int a) {
    switch (a) {
    case ACT_SILU:
        // x·σ(x); expf(-x) overflows to inf for x < -88, giving x/inf = -0.
        return x / (1.0f + expf(-x));
    case ACT_GELU_TANH: {
        // 0.5·x·(1 + tanh(u)) = x·σ(2u): no cancellation in 1 + tanh(u)
        // for negative x, where the result is tiny.
        float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        return x / (1.0f + expf(-2.0f * u));
    }
    case ACT_RELU:
        return (x > 0.0f || x != x) ? x : 0.0f; // keeps NaN visible
    }
    return x;
}

// cast_f32_to_bf16 narrows with round-to-nearest-even, bit-identical to
// kernels.F32ToBF16 (NaN keeps its sign and becomes quiet).
extern "C" __global__ void cast_f32_to_bf16(uint16_t *dst, const float *src, int64_t n) {
    FOR_N(i, n) { dst[i] = bf16_rne(src[i]); }
}

extern "C" __global__ void cast_bf16_to_f32(float *dst, const uint16_t *src, int64_t n) {
    FOR_N(i, n) { dst[i] = __uint_as_float((uint32_t)src[i] << 16); }
}

// cast_f32_to_f16 uses the hardware IEEE round-to-nearest-even conversion
// (subnormals, overflow to inf).
extern "C" __global__ void cast_f32_to_f16(__half *dst, const float *src, int64_t n) {
    FOR_N(i, n) { dst[i] = __float2half_rn(src[i]); }
}

extern "C" __global__ void cast_f16_to_f32(float *dst, const __half *src, int64_t n) {
    FOR_N(i, n) { dst[i] = __half2float(src[i]); }
}

// add_bias_rows adds a float32 bias [cols] to every row of dst, total =
// rows·cols elements (the signature MatMul's addBias launches).
extern "C" __global__ void add_bias_rows(float *dst, const float *bias, int64_t total, int64_t cols) {
    FOR_N(i, total) { dst[i] += bias[i % cols]; }
}

// add_bias_rows_w adds a bias [cols] of any weight dtype (bdt) to every
// row of dst [rows, cols] (Conv2D's GEMM path).
extern "C" __global__ void add_bias_rows_w(float *dst, const void *bias, int32_t bdt, int64_t rows,
                                           int64_t cols) {
    FOR_N(i, rows * cols) { dst[i] += ldw(bias, bdt, i % cols); }
}

// add_bcast: dst[i] = a[i] + b[i mod inner] (b's shape is a suffix of a's).
extern "C" __global__ void add_bcast(float *dst, const float *a, const float *b, int64_t n, int64_t inner) {
    FOR_N(i, n) { dst[i] = a[i] + b[i % inner]; }
}

extern "C" __global__ void mul_bcast(float *dst, const float *a, const float *b, int64_t n, int64_t inner) {
    FOR_N(i, n) { dst[i] = a[i] * b[i % inner]; }
}

extern "C" __global__ void axpby(float *dst, const float *a, const float *b, float alpha, float beta,
                                 int64_t n) {
    FOR_N(i, n) { dst[i] = alpha * a[i] + beta * b[i]; }
}

// modulate: x [B, N, D], shift and scale [B, D]; dst = x·(1 + scale) + shift.
extern "C" __global__ void modulate(float *dst, const float *x, const float *shift, const float *scale,
                                    int64_t n, int64_t nd, int64_t d) {
    FOR_N(i, n) {
        int64_t v = (i / nd) * d + i % d;
        dst[i] = x[i] * (1.0f + scale[v]) + shift[v];
    }
}

// gated_add: x, y [B, N, D], gate [B, D]; dst = x + gate·y.
extern "C" __global__ void gated_add(float *dst, const float *x, const float *gate, const float *y,
                                     int64_t n, int64_t nd, int64_t d) {
    FOR_N(i, n) {
        int64_t v = (i / nd) * d + i % d;
        dst[i] = x[i] + gate[v] * y[i];
    }
}

extern "C" __global__ void activate(float *dst, const float *x, int64_t n, int32_t a) {
    FOR_N(i, n) { dst[i] = act(x[i], a); }
}

// glu: x [rows, 2h] → dst [rows, h] = value·act(gate); gateFirst picks the
// half that is the gate.
extern "C" __global__ void glu(float *dst, const float *x, int64_t rows, int64_t h, int32_t a,
                               int32_t gateFirst) {
    int64_t n = rows * h;
    int64_t vOff = gateFirst ? h : 0, gOff = gateFirst ? 0 : h;
    FOR_N(i, n) {
        int64_t r = i / h, j = i % h;
        const float *in = x + r * 2 * h;
        dst[i] = in[vOff + j] * act(in[gOff + j], a);
    }
}
