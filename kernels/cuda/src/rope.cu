// Rotary position embedding, rotate-half convention, on x [B, T, H·Dh].
// One thread per rotated pair (i, i + Dh/2) of one head of one token. The
// frequency, angle and its sine/cosine are computed in float64 like the
// CPU backend (positions reach thousands, where a float32 angle would be
// off by ~|angle|·2⁻²⁴), then the rotation is done in float32. dst may be
// x: each thread reads both elements of its pair before writing them.
#include "common.cuh"

// pos is Int64/Int32 (pdt) of shape [B, T] (posBatched) or [T].
extern "C" __global__ void rope(float *dst, const float *x, const void *pos, int32_t pdt, int32_t posBatched,
                                int32_t nb, int32_t t, int32_t h, int32_t dh, float theta) {
    const int half = dh / 2;
    const int64_t n = (int64_t)nb * t * h * half;
    FOR_N(e, n) {
        int i = (int)(e % half);
        int64_t rh = e / half; // (token, head)
        int64_t r = rh / h;    // token row b·T + t
        int64_t pi = posBatched ? r : r % t;
        double ang = (double)ldidx(pos, pdt, pi) * pow((double)theta, -2.0 * i / dh);
        double sd, cd;
        sincos(ang, &sd, &cd);
        float s = (float)sd, c = (float)cd;
        int64_t off = rh * dh;
        float a = x[off + i], bb = x[off + i + half];
        dst[off + i] = a * c - bb * s;
        dst[off + i + half] = bb * c + a * s;
    }
}
