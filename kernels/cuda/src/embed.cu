// Embedding gather and sinusoidal timestep embedding.
#include "common.cuh"

// embedding: dst [n, d] = table[ids[i]]·scale for a table [vocab, d] of
// any float dtype. The Go side validates the ids on the host first; an id
// outside [0, vocab) that slips through still never reads out of bounds
// (its row is written as NaN).
extern "C" __global__ void embedding(float *dst, const void *table, int32_t tdt, const void *ids, int32_t idt,
                                     int64_t n, int64_t d, int64_t vocab, float scale) {
    FOR_N(e, n * d) {
        int64_t i = e / d, j = e - i * d;
        int64_t id = ldidx(ids, idt, i);
        dst[e] = (id >= 0 && id < vocab) ? ldw(table, tdt, id * d + j) * scale : __int_as_float(0x7fc00000);
    }
}

// ldt reads timestep i of any dtype as float32, rounding integers through
// float64 like the CPU backend's float32(t.At(i)).
static __device__ __forceinline__ float ldt(const void *t, int dt, int64_t i) {
    if (dt == DT_I64 || dt == DT_I32) return (float)(double)ldidx(t, dt, i);
    return ldw(t, dt, i);
}

// timestep_embedding: dst [nb, dim] from t [nb] (dtype tdt). With half =
// dim/2: f_k = exp(−lnP·k/(half − shift)) (exponent in float32, exp in
// float64, rounded to float32, as diffusers computes in float32),
// arg = scale·(t·f_k) in float32, then sin/cos in float64. flip puts cos
// first; an odd dim gets a zero last column.
extern "C" __global__ void timestep_embedding(float *dst, const void *t, int32_t tdt, int32_t nb, int32_t dim,
                                              float lnP, float shift, float scale, int32_t flip) {
    const int half = dim / 2;
    const int64_t n = (int64_t)nb * half;
    FOR_N(e, n) {
        int k = (int)(e % half);
        int64_t b = e / half;
        float ex = -lnP * (float)k / ((float)half - shift);
        float f = (float)exp((double)ex);
        double arg = (double)(scale * (ldt(t, tdt, b) * f));
        float *row = dst + b * dim;
        float sv = (float)sin(arg), cv = (float)cos(arg);
        row[flip ? half + k : k] = sv;
        row[flip ? k : half + k] = cv;
        if (k == 0 && (dim & 1)) row[dim - 1] = 0.0f;
    }
}
