// Sana's ReLU linear attention in two kernels per call:
//
//  1. linattn_kv, one block per (batch·head, slice of tokens): partial
//     KV[i][j] = Σ_n v_n[i]·k⁺_n[j] over the slice for i < Dh, and row
//     i = Dh holds ksum[j] = Σ_n k⁺_n[j] (v padded with a constant 1, the
//     trick diffusers uses), into a float64 scratch [S, B·H, Dh+1, Dh].
//     Tokens are staged in shared memory in tiles of LA_TN; each thread
//     owns up to LA_MAXO outputs, sums a tile in float32 and adds the tile
//     sum into a float64 accumulator, so long token counts (16k at 4K
//     resolution) lose no precision. Slicing the tokens over S blocks
//     keeps the GPU busy when B·H alone is below the SM count.
//  1b. linattn_kv_reduce sums the S slices into float KV [B·H, Dh+1, Dh].
//  2. linattn_out, one block per (tile of tokens, batch·head):
//     o_n[i] = (KV[i]·q⁺_n) / (ksum·q⁺_n + eps).
// q, k, v (one dtype, xdt) and out (ddt) are float32 or bf16 activations.
#include "common.cuh"

#define LA_TN 32
#define LA_MAXO 16

static __device__ __forceinline__ float relu(float x) { return (x > 0.0f || x != x) ? x : 0.0f; }

// linattn_kv: grid (B·H, S); block y handles tokens [y·per, (y+1)·per);
// blockDim·LA_MAXO ≥ (dh+1)·dh. Dynamic shared memory ks[LA_TN·dh] |
// vs[LA_TN·(dh+1)] floats.
extern "C" __global__ void linattn_kv(double *part, const void *k, const void *v, int32_t xdt, int32_t n,
                                      int32_t h, int32_t dh, int32_t per) {
    extern __shared__ float smem[];
    float *ks = smem, *vs = smem + LA_TN * dh;
    const int bh = blockIdx.x, b = bh / h, hd = bh % h;
    const int64_t ld = (int64_t)h * dh;
    const int64_t kvb = (int64_t)b * n * ld + (int64_t)hd * dh; // k and v are float32 or bf16 (xdt)
    const int nout = (dh + 1) * dh;
    int oi[LA_MAXO], oj[LA_MAXO];
    double acc[LA_MAXO];
#pragma unroll
    for (int c = 0; c < LA_MAXO; c++) {
        int o = threadIdx.x + c * blockDim.x;
        oi[c] = o / dh;
        oj[c] = o - oi[c] * dh;
        acc[c] = 0.0;
    }
    const int tEnd = (int)min((int64_t)n, ((int64_t)blockIdx.y + 1) * per);
    for (int t0 = (int)min((int64_t)n, (int64_t)blockIdx.y * per); t0 < tEnd; t0 += LA_TN) {
        const int nt = min(LA_TN, tEnd - t0);
        __syncthreads();
        for (int e = threadIdx.x; e < nt * dh; e += blockDim.x) {
            int tt = e / dh, d = e - tt * dh;
            int64_t off = (int64_t)(t0 + tt) * ld + d;
            ks[tt * dh + d] = relu(ldw(k, xdt, kvb + off));
            vs[tt * (dh + 1) + d] = ldw(v, xdt, kvb + off);
        }
        for (int tt = threadIdx.x; tt < nt; tt += blockDim.x) vs[tt * (dh + 1) + dh] = 1.0f;
        __syncthreads();
#pragma unroll
        for (int c = 0; c < LA_MAXO; c++) {
            if (threadIdx.x + c * blockDim.x < nout) {
                float p = 0.0f;
                for (int tt = 0; tt < nt; tt++) p = fmaf(vs[tt * (dh + 1) + oi[c]], ks[tt * dh + oj[c]], p);
                acc[c] += (double)p;
            }
        }
    }
    double *pb = part + ((int64_t)blockIdx.y * gridDim.x + bh) * nout;
#pragma unroll
    for (int c = 0; c < LA_MAXO; c++) {
        int o = threadIdx.x + c * blockDim.x;
        if (o < nout) pb[o] = acc[c];
    }
}

// linattn_kv_reduce: kv[i] = Σ_s part[s·total + i] for i < total.
extern "C" __global__ void linattn_kv_reduce(float *kv, const double *part, int64_t total, int32_t slices) {
    FOR_N(i, total) {
        double s = 0.0;
        for (int j = 0; j < slices; j++) s += part[(int64_t)j * total + i];
        kv[i] = (float)s;
    }
}

// linattn_out: grid (ceil(n/tq), B·H). Dynamic shared memory
// kvs[(dh+1)·(dh+1)] (rows padded to dh+1 against bank conflicts) |
// qs[tq·dh] | den[tq] floats.
extern "C" __global__ void linattn_out(void *out, int32_t ddt, const void *q, int32_t xdt, const float *kv,
                                       int32_t n, int32_t h, int32_t dh, float eps, int32_t tq) {
    extern __shared__ float smem[];
    const int ld1 = dh + 1;
    float *kvs = smem, *qs = smem + ld1 * ld1, *den = qs + tq * dh;
    const int bh = blockIdx.y, b = bh / h, hd = bh % h;
    const int n0 = blockIdx.x * tq, nt = min(tq, n - n0);
    const int64_t ld = (int64_t)h * dh;
    const int64_t base = ((int64_t)b * n + n0) * ld + (int64_t)hd * dh;
    const float *kvb = kv + (int64_t)bh * (dh + 1) * dh;
    for (int e = threadIdx.x; e < (dh + 1) * dh; e += blockDim.x) {
        int i = e / dh, j = e - i * dh;
        kvs[i * ld1 + j] = kvb[e];
    }
    for (int e = threadIdx.x; e < nt * dh; e += blockDim.x) {
        int tt = e / dh, d = e - tt * dh;
        qs[e] = relu(ldw(q, xdt, base + tt * ld + d));
    }
    __syncthreads();
    for (int tt = threadIdx.x; tt < nt; tt += blockDim.x) {
        float s = 0.0f;
        for (int j = 0; j < dh; j++) s = fmaf(kvs[dh * ld1 + j], qs[tt * dh + j], s);
        den[tt] = s + eps;
    }
    __syncthreads();
    for (int e = threadIdx.x; e < nt * dh; e += blockDim.x) {
        int tt = e / dh, i = e - tt * dh;
        float s = 0.0f;
        for (int j = 0; j < dh; j++) s = fmaf(kvs[i * ld1 + j], qs[tt * dh + j], s);
        const float o = s / den[tt];
        if (ddt == DT_BF16) {
            ((uint16_t *)out)[base + tt * ld + i] = bf16_rne(o);
        } else {
            ((float *)out)[base + tt * ld + i] = o;
        }
    }
}
