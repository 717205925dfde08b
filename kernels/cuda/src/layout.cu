// Data movement: pixel (un)shuffle, nearest 2× upsampling, channel
// repetition (all Float32 NHWC), and dtype-agnostic row copies (Concat,
// Split) and last-two-axes transpose for 2-, 4- and 8-byte elements.
// One thread per output element with 64-bit indices unless noted.
#include "common.cuh"

// pixel_shuffle: x [B, H, W, C·r²] → dst [B, H·r, W·r, C] with
// dst[b, r·i+a, r·j+bb, c] = x[b, i, j, c·r² + a·r + bb].
extern "C" __global__ void pixel_shuffle(float *dst, const float *x, int32_t nb, int32_t h, int32_t w,
                                         int32_t c, int32_t r) {
    const int64_t wr = (int64_t)w * r, hr = (int64_t)h * r;
    FOR_N(e, (int64_t)nb * hr * wr * c) {
        int64_t ch = e % c, p = e / c;
        int64_t X = p % wr, Y = (p / wr) % hr, b = p / (wr * hr);
        int64_t i = Y / r, a = Y % r, j = X / r, bb = X % r;
        dst[e] = x[((b * h + i) * w + j) * c * r * r + ch * r * r + a * r + bb];
    }
}

// pixel_unshuffle: x [B, H·r, W·r, C] → dst [B, H, W, C·r²], the inverse.
extern "C" __global__ void pixel_unshuffle(float *dst, const float *x, int32_t nb, int32_t h, int32_t w,
                                           int32_t c, int32_t r) {
    const int64_t crr = (int64_t)c * r * r;
    FOR_N(e, (int64_t)nb * h * w * crr) {
        int64_t q = e % crr, p = e / crr;
        int64_t ch = q / (r * r), a = (q / r) % r, bb = q % r;
        int64_t j = p % w, i = (p / w) % h, b = p / ((int64_t)w * h);
        dst[e] = x[((b * h * r + i * r + a) * w * r + j * r + bb) * c + ch];
    }
}

// upsample_nearest2x: x [B, H, W, C] → dst [B, 2H, 2W, C].
extern "C" __global__ void upsample_nearest2x(float *dst, const float *x, int32_t nb, int32_t h, int32_t w,
                                              int32_t c) {
    FOR_N(e, (int64_t)nb * 4 * h * w * c) {
        int64_t ch = e % c, p = e / c;
        int64_t X = p % (2 * w), Y = (p / (2 * w)) % (2 * h), b = p / (4 * (int64_t)w * h);
        dst[e] = x[((b * h + Y / 2) * w + X / 2) * c + ch];
    }
}

// repeat_channels: x [rows, c] → dst [rows, c·r], output channel k =
// input channel k/r.
extern "C" __global__ void repeat_channels(float *dst, const float *x, int64_t rows, int64_t c, int64_t r) {
    FOR_N(e, rows * c * r) {
        int64_t row = e / (c * r), k = e % (c * r);
        dst[e] = x[row * c + k / r];
    }
}

// copy_rows_TYPE copies outer rows of n elements: dst[o·dstride + doff + e]
// = src[o·sstride + soff + e]. Concat and Split are one launch per part.
#define COPY_ROWS(NAME, T)                                                                              \
    extern "C" __global__ void NAME(T *dst, const T *src, int64_t outer, int64_t n, int64_t dstride,   \
                                    int64_t doff, int64_t sstride, int64_t soff) {                    \
        FOR_N(e, outer * n) {                                                                           \
            int64_t o = e / n, i = e - o * n;                                                           \
            dst[o * dstride + doff + i] = src[o * sstride + soff + i];                                  \
        }                                                                                               \
    }
COPY_ROWS(copy_rows_u16, uint16_t)
COPY_ROWS(copy_rows_u32, uint32_t)
COPY_ROWS(copy_rows_u64, uint64_t)

// transpose_TYPE: x [nb, m, n] → dst [nb, n, m] through a 32×33 shared
// tile (padding avoids bank conflicts on the column read), so both the
// read and the write are coalesced. Block 32×8; grid-stride over tiles in
// y and batches in z because m/32 and nb may exceed the grid limits.
#define TRANSPOSE(NAME, T)                                                                              \
    extern "C" __global__ void NAME(T *dst, const T *x, int64_t nb, int64_t m, int64_t n) {             \
        __shared__ T tile[32][33];                                                                      \
        const int64_t tilesM = (m + 31) / 32;                                                           \
        const int64_t j0 = (int64_t)blockIdx.x * 32;                                                    \
        for (int64_t bi = blockIdx.z; bi < nb; bi += gridDim.z) {                                       \
            const T *xs = x + bi * m * n;                                                               \
            T *ds = dst + bi * m * n;                                                                   \
            for (int64_t tm = blockIdx.y; tm < tilesM; tm += gridDim.y) {                               \
                const int64_t i0 = tm * 32;                                                             \
                for (int yy = threadIdx.y; yy < 32; yy += blockDim.y) {                                 \
                    int64_t i = i0 + yy, j = j0 + threadIdx.x;                                          \
                    if (i < m && j < n) tile[yy][threadIdx.x] = xs[i * n + j];                          \
                }                                                                                       \
                __syncthreads();                                                                        \
                for (int yy = threadIdx.y; yy < 32; yy += blockDim.y) {                                 \
                    int64_t j = j0 + yy, i = i0 + threadIdx.x;                                          \
                    if (i < m && j < n) ds[j * m + i] = tile[threadIdx.x][yy];                          \
                }                                                                                       \
                __syncthreads();                                                                        \
            }                                                                                           \
        }                                                                                               \
    }
TRANSPOSE(transpose_u16, uint16_t)
TRANSPOSE(transpose_u32, uint32_t)
TRANSPOSE(transpose_u64, uint64_t)
