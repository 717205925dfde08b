// Scaled-dot-product attention on token-major tensors, flash style: each
// query's softmax is computed online while streaming over tiles of keys,
// so no Tq×Tk score matrix is materialized.
//
// Layout: q, out [B, Tq, Hq·Dh]; k, v [B, Tk, Hkv·Dh]; query head h reads
// key/value head h / (Hq/Hkv). Grid (ceil(Tq/nw), Hq, B), block nw warps;
// warp w of block x owns query i = x·nw + w. For each tile of kt keys the
// block stages K (rows padded to Dh+1 floats, so lanes reading different
// rows at the same column hit different banks) and V in shared memory.
// Lane l scores key j0+l (a full Dh-long dot product against the warp's q
// in shared memory), the warp combines the tile into its running max m,
// normalizer l and output accumulator (lane owns dims lane, lane+32, ...,
// up to 8 of them, so Dh ≤ 256), and the final row is acc/l.
//
// Semantics follow the CPU backend: s = softcap(scale·q·k) + mask, keys
// with j > i (causal) or i − j ≥ window hidden, and a query that sees no
// key at all gets zeros.
#include "common.cuh"

#define ATTN_MAX_DH 256
#define ATTN_ACC (ATTN_MAX_DH / 32)

// Dynamic shared memory: qs[nw·dh] | ks[kt·(dh+1)] | vs[kt·dh] floats;
// kt ≤ 32.
extern "C" __global__ void attention(float *out, const float *q, const float *k, const float *v,
                                     const float *mask, int32_t tq, int32_t tk, int32_t hq, int32_t hkv,
                                     int32_t dh, float scale, float cap, int32_t causal, int32_t window,
                                     int32_t maskPerQuery, int32_t kt) {
    extern __shared__ float smem[];
    const int nw = blockDim.x >> 5, w = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int h = blockIdx.y, b = blockIdx.z, kvh = h / (hq / hkv);
    const int i0 = blockIdx.x * nw, i = i0 + w;
    const bool active = i < tq;
    const int64_t ldq = (int64_t)hq * dh, ldk = (int64_t)hkv * dh;
    float *qs = smem + w * dh;
    float *ks = smem + nw * dh;
    float *vs = ks + kt * (dh + 1);

    if (active) {
        const float *qr = q + ((int64_t)b * tq + i) * ldq + (int64_t)h * dh;
        for (int d = lane; d < dh; d += 32) qs[d] = qr[d];
    }
    // Keys any query of this block may see (the per-query test below is
    // exact; this only skips whole tiles).
    int jhi = tk, jlo = 0;
    if (causal) jhi = min(tk, min(i0 + nw, tq));
    if (window > 0) jlo = max(0, i0 - window + 1);

    float m = -INFINITY, l = 0.0f;
    float acc[ATTN_ACC];
#pragma unroll
    for (int r = 0; r < ATTN_ACC; r++) acc[r] = 0.0f;

    for (int j0 = jlo; j0 < jhi; j0 += kt) {
        const int nk = min(kt, jhi - j0);
        __syncthreads(); // the previous tile is consumed (and qs is written)
        for (int e = threadIdx.x; e < nk * dh; e += blockDim.x) {
            int jj = e / dh, d = e - jj * dh;
            int64_t off = ((int64_t)b * tk + j0 + jj) * ldk + (int64_t)kvh * dh + d;
            ks[jj * (dh + 1) + d] = k[off];
            vs[jj * dh + d] = v[off];
        }
        __syncthreads();
        if (!active) continue; // still reaches every barrier: loop bounds are block-uniform

        const int j = j0 + lane;
        float s = -INFINITY;
        if (lane < nk && !((causal && j > i) || (window > 0 && i - j >= window))) {
            const float *kr = ks + lane * (dh + 1);
            float dot = 0.0f;
            for (int d = 0; d < dh; d++) dot = fmaf(qs[d], kr[d], dot);
            s = softcap(dot * scale, cap);
            if (mask != nullptr) {
                s += maskPerQuery ? mask[((int64_t)b * tq + i) * tk + j] : mask[(int64_t)b * tk + j];
            }
        }
        const float mn = nanmax(m, warp_max(s));
        if (mn == -INFINITY) continue; // nothing visible yet (warp-uniform)
        const float alpha = expf(m - mn); // 0 on the first visible tile
        const float p = expf(s - mn);     // 0 for hidden keys
        l = l * alpha + warp_sum(p);
#pragma unroll
        for (int r = 0; r < ATTN_ACC; r++) acc[r] *= alpha;
        for (int jj = 0; jj < nk; jj++) {
            const float pj = __shfl_sync(0xffffffffu, p, jj);
            const float *vr = vs + jj * dh;
#pragma unroll
            for (int r = 0; r < ATTN_ACC; r++) {
                int d = lane + 32 * r;
                if (d < dh) acc[r] = fmaf(pj, vr[d], acc[r]);
            }
        }
        m = mn;
    }
    if (!active) return;
    float *orow = out + ((int64_t)b * tq + i) * ldq + (int64_t)h * dh;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f; // fully hidden row → zeros
#pragma unroll
    for (int r = 0; r < ATTN_ACC; r++) {
        int d = lane + 32 * r;
        if (d < dh) orow[d] = l > 0.0f ? acc[r] * inv : 0.0f;
    }
}

// attn_softmax turns the score rows of the GEMM attention path
// (ops_attn_gemm.go) into probabilities in place. s holds nb batch items
// of [hq, tq, tk] scaled scores q·k·scale (batch item bl is batch b0+bl);
// one warp per row: s = softcap(s) + mask, hidden keys (causal, window)
// get probability 0, and a row that sees no key gets zeros, exactly the
// semantics of the attention kernel above. Three passes over a row of at
// most a few thousand floats: the re-reads hit L1/L2.
extern "C" __global__ void attn_softmax(float *s, const float *mask, int32_t tq, int32_t tk, int32_t hq,
                                        int64_t rows, int32_t b0, int32_t maskPerQuery, float cap,
                                        int32_t causal, int32_t window) {
    const int lane = threadIdx.x & 31;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
    for (int64_t r = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps) {
        float *row = s + r * tk;
        const int i = (int)(r % tq);
        const int64_t b = b0 + r / ((int64_t)hq * tq);
        const float *mrow = mask == nullptr ? nullptr
                            : maskPerQuery  ? mask + (b * tq + i) * tk
                                            : mask + b * tk;
        float m = -INFINITY;
        for (int j = lane; j < tk; j += 32) {
            float v = -INFINITY;
            if (!((causal && j > i) || (window > 0 && i - j >= window))) {
                v = softcap(row[j], cap);
                if (mrow != nullptr) v += mrow[j];
            }
            row[j] = v;
            m = nanmax(m, v);
        }
        m = warp_max(m);
        float l = 0.0f;
        if (m != -INFINITY) {
            for (int j = lane; j < tk; j += 32) {
                float p = expf(row[j] - m);
                row[j] = p;
                l += p;
            }
        }
        l = warp_sum(l);
        const float inv = l > 0.0f ? 1.0f / l : 0.0f;
        for (int j = lane; j < tk; j += 32) row[j] = l > 0.0f ? row[j] * inv : 0.0f;
    }
}
