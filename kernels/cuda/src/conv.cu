// 2-D convolution on NHWC activations with OHWI weights of any float
// dtype (widened on load).
//
//  * conv_depthwise: Groups == Cin == Cout. One thread per output element;
//    consecutive threads take consecutive channels, so input reads of a
//    tap are coalesced.
//  * conv_gemm: everything else, as an implicit GEMM per group g:
//    C[m][n] = Σ_k A[m][k]·W[n][k] with m an output pixel, n an output
//    channel of the group and k = (ky·KW + kx)·CinG + ci, which is exactly
//    the OHWI weight row of channel g·CoutG + n. A is gathered from x on
//    the fly (zero outside the image), so there is no im2col buffer.
//    64×64 output tiles, BK = 16, 256 threads with a 4×4 register tile
//    each (rows ty+16r, columns tx+16c, so stores are coalesced).
#include "common.cuh"

extern "C" __global__ void conv_depthwise(float *dst, const float *x, const void *w, int32_t wdt,
                                          const void *bias, int32_t bdt, int32_t nb, int32_t hh, int32_t ww,
                                          int32_t c, int32_t ho, int32_t wo, int32_t kh, int32_t kw,
                                          int32_t stride, int32_t pad) {
    int64_t n = (int64_t)nb * ho * wo * c;
    FOR_N(i, n) {
        int ch = (int)(i % c);
        int64_t p = i / c;
        int ox = (int)(p % wo), oy = (int)((p / wo) % ho);
        int64_t b = p / ((int64_t)wo * ho);
        float acc = bias != nullptr ? ldw(bias, bdt, ch) : 0.0f;
        for (int ky = 0; ky < kh; ky++) {
            int iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= hh) continue;
            for (int kx = 0; kx < kw; kx++) {
                int ix = ox * stride - pad + kx;
                if (ix < 0 || ix >= ww) continue;
                float xv = x[((b * hh + iy) * ww + ix) * c + ch];
                acc = fmaf(xv, ldw(w, wdt, ((int64_t)ch * kh + ky) * kw + kx), acc);
            }
        }
        dst[i] = acc;
    }
}

#define CG_BM 64
#define CG_BN 64
#define CG_BK 16

// Shape of one convolution, passed by value.
struct ConvShape {
    int nb, hh, ww, cin, ho, wo, cout, kh, kw, cinG, coutG, stride, pad;
};

// gatherA returns A[m][k] (0 outside the image or past M/K).
static __device__ __forceinline__ float gatherA(const float *x, const ConvShape &s, int g, int64_t m,
                                                int64_t mTotal, int k, int kTotal) {
    if (m >= mTotal || k >= kTotal) return 0.0f;
    int tap = k / s.cinG, ci = k - tap * s.cinG;
    int ky = tap / s.kw, kx = tap - ky * s.kw;
    int ox = (int)(m % s.wo), oy = (int)((m / s.wo) % s.ho);
    int64_t b = m / ((int64_t)s.wo * s.ho);
    int iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
    if (iy < 0 || iy >= s.hh || ix < 0 || ix >= s.ww) return 0.0f;
    return x[((b * s.hh + iy) * s.ww + ix) * s.cin + (int64_t)g * s.cinG + ci];
}

// conv_gemm: grid (ceil(M/64), ceil(CoutG/64), Groups), 256 threads.
extern "C" __global__ void __launch_bounds__(256)
    conv_gemm(float *dst, const float *x, const void *w, int32_t wdt, const void *bias, int32_t bdt, int32_t nb,
              int32_t hh, int32_t ww, int32_t cin, int32_t ho, int32_t wo, int32_t cout, int32_t kh, int32_t kw,
              int32_t groups, int32_t stride, int32_t pad) {
    __shared__ float As[CG_BK][CG_BM + 1];
    __shared__ float Bs[CG_BK][CG_BN + 1];
    ConvShape s{nb, hh, ww, cin, ho, wo, cout, kh, kw, cin / groups, cout / groups, stride, pad};
    const int g = blockIdx.z;
    const int64_t mTotal = (int64_t)nb * ho * wo;
    const int kTotal = kh * kw * s.cinG;
    const int64_t m0 = (int64_t)blockIdx.x * CG_BM;
    const int n0 = blockIdx.y * CG_BN;
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    float acc[4][4] = {};
    for (int k0 = 0; k0 < kTotal; k0 += CG_BK) {
        // 1024 elements of each tile, 4 per thread; kk varies fastest so
        // consecutive threads read consecutive channels (contiguous in x
        // and in the weight rows).
        for (int e = threadIdx.x; e < CG_BM * CG_BK; e += blockDim.x) {
            int kk = e % CG_BK, r = e / CG_BK;
            As[kk][r] = gatherA(x, s, g, m0 + r, mTotal, k0 + kk, kTotal);
            int n = n0 + r, k = k0 + kk;
            Bs[kk][r] = (n < s.coutG && k < kTotal)
                            ? ldw(w, wdt, ((int64_t)g * s.coutG + n) * kTotal + k)
                            : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < CG_BK; kk++) {
            float a[4], bv[4];
#pragma unroll
            for (int r = 0; r < 4; r++) a[r] = As[kk][ty + 16 * r];
#pragma unroll
            for (int c = 0; c < 4; c++) bv[c] = Bs[kk][tx + 16 * c];
#pragma unroll
            for (int r = 0; r < 4; r++)
#pragma unroll
                for (int c = 0; c < 4; c++) acc[r][c] = fmaf(a[r], bv[c], acc[r][c]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int c = 0; c < 4; c++) {
        int n = n0 + tx + 16 * c;
        if (n >= s.coutG) continue;
        int co = g * s.coutG + n;
        float bb = bias != nullptr ? ldw(bias, bdt, co) : 0.0f;
#pragma unroll
        for (int r = 0; r < 4; r++) {
            int64_t m = m0 + ty + 16 * r;
            if (m < mTotal) dst[m * cout + co] = acc[r][c] + bb;
        }
    }
}

// im2col: col [rows, kh·kw·cin] for output pixels m0 .. m0+rows−1 of a
// dense (one group) convolution, taps in (ky, kx, ci) order so each row
// matches the OHWI weight rows; zeros outside the image. Consecutive
// threads write consecutive columns and read consecutive channels.
// im2col_at reads element e of that col matrix (k = kh·kw·cin columns).
static __device__ __forceinline__ float im2col_at(const float *x, int64_t e, int64_t k, int32_t hh, int32_t ww,
                                                  int32_t cin, int32_t ho, int32_t wo, int32_t kw,
                                                  int32_t stride, int32_t pad, int64_t m0) {
    int64_t r = e / k;
    int kk = (int)(e - r * k);
    int tap = kk / cin, ci = kk - tap * cin;
    int ky = tap / kw, kx = tap - ky * kw;
    int64_t m = m0 + r;
    int ox = (int)(m % wo), oy = (int)((m / wo) % ho);
    int64_t b = m / ((int64_t)wo * ho);
    int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
    return (iy < 0 || iy >= hh || ix < 0 || ix >= ww) ? 0.0f : x[((b * hh + iy) * ww + ix) * cin + ci];
}

extern "C" __global__ void im2col(float *col, const float *x, int32_t hh, int32_t ww, int32_t cin, int32_t ho,
                                  int32_t wo, int32_t kh, int32_t kw, int32_t stride, int32_t pad, int64_t m0,
                                  int64_t rows) {
    const int64_t k = (int64_t)kh * kw * cin;
    FOR_N(e, rows * k) { col[e] = im2col_at(x, e, k, hh, ww, cin, ho, wo, kw, stride, pad, m0); }
}

// im2col_bf16 and im2col_f16 write the col matrix rounded to the 16-bit
// weight dtype (round-to-nearest-even) for the tensor-core GEMM of bf16
// precision: one pass, no float32 col buffer.
extern "C" __global__ void im2col_bf16(uint16_t *col, const float *x, int32_t hh, int32_t ww, int32_t cin,
                                       int32_t ho, int32_t wo, int32_t kh, int32_t kw, int32_t stride,
                                       int32_t pad, int64_t m0, int64_t rows) {
    const int64_t k = (int64_t)kh * kw * cin;
    FOR_N(e, rows * k) { col[e] = bf16_rne(im2col_at(x, e, k, hh, ww, cin, ho, wo, kw, stride, pad, m0)); }
}

extern "C" __global__ void im2col_f16(__half *col, const float *x, int32_t hh, int32_t ww, int32_t cin,
                                      int32_t ho, int32_t wo, int32_t kh, int32_t kw, int32_t stride,
                                      int32_t pad, int64_t m0, int64_t rows) {
    const int64_t k = (int64_t)kh * kw * cin;
    FOR_N(e, rows * k) { col[e] = __float2half_rn(im2col_at(x, e, k, hh, ww, cin, ho, wo, kw, stride, pad, m0)); }
}

// silu_f matches elementwise.cu's SiLU exactly (x·σ(x) as x/(1 + e^−x)).
static __device__ __forceinline__ float silu_f(float x) { return x / (1.0f + expf(-x)); }

// mixffn_conv fuses the middle of Sana's Mix-FFN (kernels.Backend
// MixFFNConv): bias add and SiLU on the 1×1 expansion u [B, H, W, 2C],
// the depthwise 3×3 convolution (pad 1) with its bias, and value ⊙
// SiLU(gate) into dst [B, H, W, C]. One thread per output computes the
// value channel c and the gate channel C + c, summing in conv_depthwise's
// order (bias first, then fmaf over ky, kx). Neighbours' SiLU is
// recomputed instead of stored: a few exponentials in exchange for four
// passes over the 2C-wide tensor. u and dst are float32 or bf16
// activations (udt, ddt): u read exactly, dst rounded once on store.
extern "C" __global__ void mixffn_conv(void *dst, int32_t ddt, const void *u, int32_t udt, const void *ib,
                                       int32_t ibdt, const void *w, int32_t wdt, const void *db, int32_t dbdt,
                                       int32_t nb, int32_t hh, int32_t ww, int32_t c) {
    const int64_t n = (int64_t)nb * hh * ww * c;
    const int64_t c2 = 2 * (int64_t)c;
    FOR_N(i, n) {
        const int ch = (int)(i % c);
        const int64_t p = i / c;
        const int x = (int)(p % ww), y = (int)((p / ww) % hh);
        const int64_t b = p / ((int64_t)ww * hh);
        const float bv = ib != nullptr ? ldw(ib, ibdt, ch) : 0.0f;
        const float bg = ib != nullptr ? ldw(ib, ibdt, c + ch) : 0.0f;
        float v = db != nullptr ? ldw(db, dbdt, ch) : 0.0f;
        float g = db != nullptr ? ldw(db, dbdt, c + ch) : 0.0f;
        for (int ky = 0; ky < 3; ky++) {
            const int iy = y - 1 + ky;
            if (iy < 0 || iy >= hh) continue;
            for (int kx = 0; kx < 3; kx++) {
                const int ix = x - 1 + kx;
                if (ix < 0 || ix >= ww) continue;
                const int64_t row = ((b * hh + iy) * ww + ix) * c2;
                v = fmaf(silu_f(ldw(u, udt, row + ch) + bv), ldw(w, wdt, (int64_t)ch * 9 + ky * 3 + kx), v);
                g = fmaf(silu_f(ldw(u, udt, row + c + ch) + bg), ldw(w, wdt, ((int64_t)c + ch) * 9 + ky * 3 + kx), g);
            }
        }
        const float o = v * silu_f(g);
        if (ddt == DT_BF16) {
            ((uint16_t *)dst)[i] = bf16_rne(o);
        } else {
            ((float *)dst)[i] = o;
        }
    }
}
