// CUDA layer / group / batch norm (cuda/norm.h). Same two-pass statistics as the CPU kernels (mean, then the mean
// of centred squares: llm.c's layernorm_forward), same formulas (cpu/norm.h); the parallel decomposition follows
// llm.c's layernorm kernels (a block or a warp per row) and ATen's GroupNormKernel (per-(b, c) partial sums).
#include "cuda/norm.h"

#include <cuda_runtime.h>

#include <algorithm>

#include "cuda/norm_common.cuh"
#include "cuda/runtime.h"

namespace hm::cuda {
namespace {

using detail::block_sum;
using detail::kBlock;
using detail::warp_sum;

// Row chunks of the layer-norm parameter gradients: fixed (not derived from the device), so dweight / dbias are
// bit-identical on every GPU.
constexpr int64_t kLayerNormChunks = 128;
constexpr int kWarpsPerBlock = kBlock / 32;

template <class T>
__device__ __forceinline__ T weight_or_one(const T* w, int64_t c) {
  return w ? w[c] : T(1);
}

// ---- layer norm forward ------------------------------------------------------------------------------------------
// mean = sum_c x / C, var = sum_c (x - mean)^2 / C, rstd = 1 / sqrt(var + eps), y = (x - mean) * rstd * w + b.
// grid (rows), block kBlock: the block strides over the row's C elements.
template <class T>
__global__ void layer_norm_forward_block_kernel(const T* x, const T* weight, const T* bias, T eps, int64_t C, T* y,
                                                T* mean, T* rstd) {
  const int64_t r = blockIdx.x;
  const T* xr = x + r * C;  // (C)
  T* yr = y + r * C;        // (C)
  T s = 0;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) s += xr[c];
  const T m = block_sum(s) / T(C);
  T sq = 0;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) sq += (xr[c] - m) * (xr[c] - m);
  const T rs = T(1) / sqrt(block_sum(sq) / T(C) + eps);
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
    yr[c] = (xr[c] - m) * rs * weight_or_one(weight, c) + (bias ? bias[c] : T(0));
  if (threadIdx.x == 0) mean[r] = m, rstd[r] = rs;
}

// Same, one warp per row: grid (ceil(rows / 8)), block kBlock = 8 warps. Lanes stride over C.
template <class T>
__global__ void layer_norm_forward_warp_kernel(const T* x, const T* weight, const T* bias, T eps, int64_t rows,
                                               int64_t C, T* y, T* mean, T* rstd) {
  const int64_t r = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = int(threadIdx.x % 32);
  if (r >= rows) return;  // whole warps leave together, so the shuffles below see full warps
  const T* xr = x + r * C;  // (C)
  T* yr = y + r * C;        // (C)
  T s = 0;
  for (int64_t c = lane; c < C; c += 32) s += xr[c];
  const T m = warp_sum(s) / T(C);
  T sq = 0;
  for (int64_t c = lane; c < C; c += 32) sq += (xr[c] - m) * (xr[c] - m);
  const T rs = T(1) / sqrt(warp_sum(sq) / T(C) + eps);
  for (int64_t c = lane; c < C; c += 32) yr[c] = (xr[c] - m) * rs * weight_or_one(weight, c) + (bias ? bias[c] : T(0));
  if (lane == 0) mean[r] = m, rstd[r] = rs;
}

// ---- layer norm backward -------------------------------------------------------------------------------------------
// llm.c layernorm_backward: d = dy * w, xhat = (x - mean) * rstd,
//   dx = rstd * (d - mean_c(d) - xhat * mean_c(d * xhat)).
template <class T>
__global__ void layer_norm_dx_block_kernel(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd,
                                           int64_t C, T* dx) {
  const int64_t r = blockIdx.x;
  const T* dyr = dy + r * C;  // (C)
  const T* xr = x + r * C;    // (C)
  T* dxr = dx + r * C;        // (C)
  const T m = mean[r], s = rstd[r];
  T sd = 0, sdx = 0;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    const T d = dyr[c] * weight_or_one(weight, c);
    sd += d;
    sdx += d * (xr[c] - m) * s;
  }
  const T d_mean = block_sum(sd) / T(C), dx_mean = block_sum(sdx) / T(C);
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
    dxr[c] = s * (dyr[c] * weight_or_one(weight, c) - d_mean - (xr[c] - m) * s * dx_mean);
}

template <class T>
__global__ void layer_norm_dx_warp_kernel(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd,
                                          int64_t rows, int64_t C, T* dx) {
  const int64_t r = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = int(threadIdx.x % 32);
  if (r >= rows) return;
  const T* dyr = dy + r * C;  // (C)
  const T* xr = x + r * C;    // (C)
  T* dxr = dx + r * C;        // (C)
  const T m = mean[r], s = rstd[r];
  T sd = 0, sdx = 0;
  for (int64_t c = lane; c < C; c += 32) {
    const T d = dyr[c] * weight_or_one(weight, c);
    sd += d;
    sdx += d * (xr[c] - m) * s;
  }
  const T d_mean = warp_sum(sd) / T(C), dx_mean = warp_sum(sdx) / T(C);
  for (int64_t c = lane; c < C; c += 32)
    dxr[c] = s * (dyr[c] * weight_or_one(weight, c) - d_mean - (xr[c] - m) * s * dx_mean);
}

// First pass of dweight = sum_rows dy * xhat, dbias = sum_rows dy: grid (ceil(C / kBlock), chunks); thread
// (column c, chunk k) sums rows [k * rows / chunks, (k + 1) * rows / chunks) of its column (coalesced over c).
template <class T>
__global__ void layer_norm_param_partial_kernel(const T* dy, const T* x, const T* mean, const T* rstd, int64_t rows,
                                                int64_t C, int64_t chunks, T* part_w, T* part_b) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x, k = blockIdx.y;
  if (c >= C) return;
  const int64_t r0 = k * rows / chunks, r1 = (k + 1) * rows / chunks;
  T sw = 0, sb = 0;
  for (int64_t r = r0; r < r1; ++r) {
    const T g = dy[r * C + c];
    sw += g * (x[r * C + c] - mean[r]) * rstd[r];
    sb += g;
  }
  if (part_w) part_w[k * C + c] = sw;  // (chunks, C)
  if (part_b) part_b[k * C + c] = sb;  // (chunks, C)
}

// Second pass: out[c] (+)= sum_k part[k, c] in increasing k (fixed order -> deterministic). `accumulate` adds to
// out (the layer-norm contract, dweight +=) instead of writing it (the group-norm contract).
template <class T>
__global__ void sum_rows_kernel(const T* part, int64_t K, int64_t C, bool accumulate, T* out) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  T s = 0;
  for (int64_t k = 0; k < K; ++k) s += part[k * C + c];
  out[c] = accumulate ? out[c] + s : s;
}

template <class T>
void sum_rows(const T* part, int64_t K, int64_t C, bool accumulate, T* out) {
  sum_rows_kernel<T><<<unsigned((C + kBlock - 1) / kBlock), kBlock, 0, stream()>>>(part, K, C, accumulate, out);
  check_launch("sum_rows_kernel");
}

template <class T>
void layer_norm_param_grads(const T* dy, const T* x, const T* mean, const T* rstd, int64_t rows, int64_t C, T* dweight,
                            T* dbias) {
  if (!dweight && !dbias) return;
  const int64_t chunks = std::min(rows, kLayerNormChunks);
  const size_t bytes = size_t(2 * chunks * C) * sizeof(T);
  T* part = static_cast<T*>(scratch(bytes));  // (2, chunks, C): dweight partials, then dbias partials
  T* part_w = dweight ? part : nullptr;
  T* part_b = dbias ? part + chunks * C : nullptr;
  const dim3 grid(unsigned((C + kBlock - 1) / kBlock), unsigned(chunks));
  layer_norm_param_partial_kernel<T><<<grid, kBlock, 0, stream()>>>(dy, x, mean, rstd, rows, C, chunks, part_w, part_b);
  check_launch("layer_norm_param_partial_kernel");
  if (dweight) sum_rows(part_w, chunks, C, /*accumulate=*/true, dweight);
  if (dbias) sum_rows(part_b, chunks, C, /*accumulate=*/true, dbias);
  release(part, bytes);
}

// ---- group norm ----------------------------------------------------------------------------------------------------
// grid (B * G), block kBlock: group bg is the contiguous (C / G, L) slab at x + bg * n, n = C / G * L.
template <class T>
__global__ void group_norm_forward_kernel(const T* x, const T* weight, const T* bias, T eps, int64_t C, int64_t L,
                                          int64_t G, T* y, T* mean, T* rstd) {
  const int64_t bg = blockIdx.x, g = bg % G, cg = C / G, n = cg * L;
  const T* xg = x + bg * n;  // (cg, L)
  T* yg = y + bg * n;        // (cg, L)
  T s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += xg[i];
  const T m = block_sum(s) / T(n);
  T sq = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sq += (xg[i] - m) * (xg[i] - m);
  const T rs = T(1) / sqrt(block_sum(sq) / T(n) + eps);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const int64_t c = g * cg + i / L;
    // y = xhat * w + b = x * (rstd * w) + (b - mean * rstd * w), as the CPU kernel
    const T a = rs * weight_or_one(weight, c);
    yg[i] = xg[i] * a + ((bias ? bias[c] : T(0)) - m * a);
  }
  if (threadIdx.x == 0) mean[bg] = m, rstd[bg] = rs;
}

// grid (B * C), block kBlock: ds[b, c] = sum_l dy * xhat, db[b, c] = sum_l dy over channel c's L frames.
template <class T>
__global__ void group_norm_channel_sums_kernel(const T* dy, const T* x, const T* mean, const T* rstd, int64_t C,
                                               int64_t L, int64_t G, T* ds, T* db) {
  const int64_t bc = blockIdx.x, b = bc / C, c = bc % C;
  const int64_t bg = b * G + c / (C / G);
  const T m = mean[bg], s = rstd[bg];
  const T* xr = x + bc * L;    // (L)
  const T* dyr = dy + bc * L;  // (L)
  T sd = 0, sdx = 0;
  for (int64_t l = threadIdx.x; l < L; l += blockDim.x) {
    sd += dyr[l];
    sdx += dyr[l] * (xr[l] - m) * s;
  }
  sd = block_sum(sd);
  sdx = block_sum(sdx);
  if (threadIdx.x == 0) ds[bc] = sdx, db[bc] = sd;
}

// grid (B * G), block kBlock: dx = rstd * (d - mean(d) - xhat * mean(d * xhat)) over the group, d = dy * w, where
// sum d = sum_j w[c] db[b, c] and sum d * xhat = sum_j w[c] ds[b, c].
template <class T>
__global__ void group_norm_dx_kernel(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd,
                                     const T* ds, const T* db, int64_t C, int64_t L, int64_t G, T* dx) {
  const int64_t bg = blockIdx.x, b = bg / G, g = bg % G, cg = C / G, n = cg * L;
  T sd = 0, sdx = 0;
  for (int64_t j = threadIdx.x; j < cg; j += blockDim.x) {
    const int64_t c = g * cg + j;
    sd += weight_or_one(weight, c) * db[b * C + c];
    sdx += weight_or_one(weight, c) * ds[b * C + c];
  }
  const T d_mean = block_sum(sd) / T(n), dx_mean = block_sum(sdx) / T(n);
  const T m = mean[bg], s = rstd[bg];
  const T* xg = x + bg * n;    // (cg, L)
  const T* dyg = dy + bg * n;  // (cg, L)
  T* dxg = dx + bg * n;        // (cg, L)
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const T w = weight_or_one(weight, g * cg + i / L);
    dxg[i] = s * (dyg[i] * w - d_mean - (xg[i] - m) * s * dx_mean);
  }
}

// ---- batch norm ----------------------------------------------------------------------------------------------------
// Element (b, c, l) of a (B, C, L) tensor for the i-th (b, l) pair of channel c, i in [0, B * L).
__device__ __forceinline__ int64_t bcl_index(int64_t i, int64_t c, int64_t C, int64_t L) {
  return ((i / L) * C + c) * L + i % L;
}

// One block: the number of unpadded frames, sum over (b, l) of [mask == 0].
__global__ void count_valid_kernel(const uint8_t* mask, int64_t n, long long* count) {
  long long k = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) k += mask[i] == 0;
  k = block_sum(k);
  if (threadIdx.x == 0) count[0] = k;
}

// grid (C), block kBlock: mean / biased var of channel c over its unpadded (b, l) frames (mask[b * L + l] == 0).
template <class T>
__global__ void batch_norm_stats_kernel(const T* x, const uint8_t* mask, int64_t B, int64_t C, int64_t L,
                                        int64_t n_valid, T* mean, T* var) {
  const int64_t c = blockIdx.x, n = B * L;
  T s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    if (!mask || !mask[i]) s += x[bcl_index(i, c, C, L)];
  s = block_sum(s);  // every thread calls it (it synchronises), n_valid or not
  const T m = n_valid > 0 ? s / T(n_valid) : T(0);
  T sq = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    if (!mask || !mask[i]) {
      const T d = x[bcl_index(i, c, C, L)] - m;
      sq += d * d;
    }
  sq = block_sum(sq);
  const T v = n_valid > 0 ? sq / T(n_valid) : T(0);
  if (threadIdx.x == 0) mean[c] = m, var[c] = v;
}

// ATen batch_norm_cpu_update_stats_template: running = (1 - momentum) * running + momentum * stat, with the
// unbiased variance var * n / (n - 1).
template <class T>
__global__ void batch_norm_update_running_kernel(const T* mean, const T* var, int64_t n, T momentum, int64_t C,
                                                 T* running_mean, T* running_var) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const T unbias = T(n) / T(n - 1);
  if (running_mean) running_mean[c] = (T(1) - momentum) * running_mean[c] + momentum * mean[c];
  if (running_var) running_var[c] = (T(1) - momentum) * running_var[c] + momentum * var[c] * unbias;
}

template <class T>
__global__ void batch_norm_rstd_kernel(const T* var, T eps, int64_t C, T* rstd) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c < C) rstd[c] = T(1) / sqrt(var[c] + eps);
}

// y = x * a + (b - mean * a) with a = rstd * w (the CPU kernel's form); grid-stride over the B * C * L elements.
template <class T>
__global__ void batch_norm_apply_kernel(const T* x, const T* mean, const T* rstd, const T* weight, const T* bias,
                                        int64_t total, int64_t C, int64_t L, T* y) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = (i / L) % C;
    const T a = rstd[c] * weight_or_one(weight, c);
    y[i] = x[i] * a + ((bias ? bias[c] : T(0)) - mean[c] * a);
  }
}

// grid (C), block kBlock. Sums over every (b, l), padded frames included (their outputs depend on the statistics):
//   dweight = sum dy * xhat, dbias = sum dy
//   training: dx = rstd * (d - valid * (w sum dy + xhat * w sum dy xhat) / n_valid), d = dy * w
//   eval:     dx = rstd * d
template <class T>
__global__ void batch_norm_backward_kernel(const T* dy, const T* x, const uint8_t* mask, const T* weight, const T* mean,
                                           const T* rstd, bool training, int64_t n_valid, int64_t B, int64_t C,
                                           int64_t L, T* dx, T* dweight, T* dbias) {
  const int64_t c = blockIdx.x, n = B * L;
  const T m = mean[c], s = rstd[c], w = weight_or_one(weight, c);
  T sd = 0, sdx = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const int64_t e = bcl_index(i, c, C, L);
    sd += dy[e];
    sdx += dy[e] * (x[e] - m) * s;
  }
  sd = block_sum(sd);
  sdx = block_sum(sdx);
  if (threadIdx.x == 0) {
    if (dweight) dweight[c] = sdx;
    if (dbias) dbias[c] = sd;
  }
  if (!dx) return;
  const T k_mean = training ? w * sd / T(n_valid) : T(0);
  const T k_xhat = training ? w * sdx / T(n_valid) : T(0);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const int64_t e = bcl_index(i, c, C, L);
    const bool valid = !mask || !mask[i];
    const T xhat = (x[e] - m) * s;
    dx[e] = valid ? s * (dy[e] * w - k_mean - xhat * k_xhat) : s * dy[e] * w;
  }
}

unsigned blocks_for(int64_t n) { return unsigned((n + kBlock - 1) / kBlock); }

}  // namespace

// ---- host launchers ------------------------------------------------------------------------------------------------
template <class T>
void layer_norm_forward_rowwise(const T* x, const T* weight, const T* bias, T eps, int64_t rows, int64_t C, T* y,
                                T* mean, T* rstd) {
  if (rows == 0) return;
  layer_norm_forward_block_kernel<T><<<unsigned(rows), kBlock, 0, stream()>>>(x, weight, bias, eps, C, y, mean, rstd);
  check_launch("layer_norm_forward_block_kernel");
}

template <class T>
void layer_norm_forward_warp(const T* x, const T* weight, const T* bias, T eps, int64_t rows, int64_t C, T* y,
                             T* mean, T* rstd) {
  if (rows == 0) return;
  const unsigned grid = unsigned((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
  layer_norm_forward_warp_kernel<T><<<grid, kBlock, 0, stream()>>>(x, weight, bias, eps, rows, C, y, mean, rstd);
  check_launch("layer_norm_forward_warp_kernel");
}

template <class T>
void layer_norm_backward_rowwise(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd, int64_t rows,
                                 int64_t C, T* dx, T* dweight, T* dbias) {
  if (rows == 0) return;  // nothing to add to dweight / dbias
  if (dx) {
    layer_norm_dx_block_kernel<T><<<unsigned(rows), kBlock, 0, stream()>>>(dy, x, weight, mean, rstd, C, dx);
    check_launch("layer_norm_dx_block_kernel");
  }
  layer_norm_param_grads(dy, x, mean, rstd, rows, C, dweight, dbias);
}

template <class T>
void layer_norm_backward_warp(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd, int64_t rows,
                              int64_t C, T* dx, T* dweight, T* dbias) {
  if (rows == 0) return;  // nothing to add to dweight / dbias
  if (dx) {
    const unsigned grid = unsigned((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
    layer_norm_dx_warp_kernel<T><<<grid, kBlock, 0, stream()>>>(dy, x, weight, mean, rstd, rows, C, dx);
    check_launch("layer_norm_dx_warp_kernel");
  }
  layer_norm_param_grads(dy, x, mean, rstd, rows, C, dweight, dbias);
}

template <class T>
void group_norm_forward(const T* x, const T* weight, const T* bias, T eps, int64_t B, int64_t C, int64_t L, int64_t G,
                        T* y, T* mean, T* rstd) {
  if (B == 0) return;
  group_norm_forward_kernel<T><<<unsigned(B * G), kBlock, 0, stream()>>>(x, weight, bias, eps, C, L, G, y, mean, rstd);
  check_launch("group_norm_forward_kernel");
}

template <class T>
void group_norm_backward(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd, int64_t B, int64_t C,
                         int64_t L, int64_t G, T* dx, T* dweight, T* dbias) {
  if (B == 0) {  // sums over an empty batch
    if (dweight) check(cudaMemsetAsync(dweight, 0, size_t(C) * sizeof(T), stream()), "group_norm_backward memset");
    if (dbias) check(cudaMemsetAsync(dbias, 0, size_t(C) * sizeof(T), stream()), "group_norm_backward memset");
    return;
  }
  const size_t bytes = size_t(2 * B * C) * sizeof(T);
  T* ds = static_cast<T*>(scratch(bytes));  // (B, C) sum_l dy * xhat
  T* db = ds + B * C;                       // (B, C) sum_l dy
  group_norm_channel_sums_kernel<T><<<unsigned(B * C), kBlock, 0, stream()>>>(dy, x, mean, rstd, C, L, G, ds, db);
  check_launch("group_norm_channel_sums_kernel");
  if (dx) {
    group_norm_dx_kernel<T><<<unsigned(B * G), kBlock, 0, stream()>>>(dy, x, weight, mean, rstd, ds, db, C, L, G, dx);
    check_launch("group_norm_dx_kernel");
  }
  if (dweight) sum_rows(ds, B, C, /*accumulate=*/false, dweight);
  if (dbias) sum_rows(db, B, C, /*accumulate=*/false, dbias);
  release(ds, bytes);
}

template <class T>
int64_t batch_norm_stats(const T* x, const uint8_t* pad_mask, int64_t B, int64_t C, int64_t L, T* mean, T* var) {
  int64_t n_valid = B * L;
  if (pad_mask && n_valid > 0) {
    auto* count = static_cast<long long*>(scratch(sizeof(long long)));
    count_valid_kernel<<<1, kBlock, 0, stream()>>>(pad_mask, B * L, count);
    check_launch("count_valid_kernel");
    long long host = 0;
    copy_to_host(&host, count, sizeof(host));
    release(count, sizeof(long long));
    n_valid = int64_t(host);
  }
  if (C == 0) return n_valid;
  batch_norm_stats_kernel<T><<<unsigned(C), kBlock, 0, stream()>>>(x, pad_mask, B, C, L, n_valid, mean, var);
  check_launch("batch_norm_stats_kernel");
  return n_valid;
}

template <class T>
void batch_norm_update_running(const T* mean, const T* var, int64_t n, T momentum, int64_t C, T* running_mean,
                               T* running_var) {
  if (C == 0 || (!running_mean && !running_var)) return;
  batch_norm_update_running_kernel<T>
      <<<blocks_for(C), kBlock, 0, stream()>>>(mean, var, n, momentum, C, running_mean, running_var);
  check_launch("batch_norm_update_running_kernel");
}

template <class T>
void batch_norm_rstd(const T* var, T eps, int64_t C, T* rstd) {
  if (C == 0) return;
  batch_norm_rstd_kernel<T><<<blocks_for(C), kBlock, 0, stream()>>>(var, eps, C, rstd);
  check_launch("batch_norm_rstd_kernel");
}

template <class T>
void batch_norm_apply(const T* x, const T* mean, const T* rstd, const T* weight, const T* bias, int64_t B, int64_t C,
                      int64_t L, T* y) {
  const int64_t total = B * C * L;
  if (total == 0) return;
  batch_norm_apply_kernel<T>
      <<<grid_for(total, kBlock), kBlock, 0, stream()>>>(x, mean, rstd, weight, bias, total, C, L, y);
  check_launch("batch_norm_apply_kernel");
}

template <class T>
void batch_norm_backward(const T* dy, const T* x, const uint8_t* pad_mask, const T* weight, const T* mean,
                         const T* rstd, bool training, int64_t n_valid, int64_t B, int64_t C, int64_t L, T* dx,
                         T* dweight, T* dbias) {
  if (C == 0) return;
  batch_norm_backward_kernel<T><<<unsigned(C), kBlock, 0, stream()>>>(dy, x, pad_mask, weight, mean, rstd, training,
                                                                      n_valid, B, C, L, dx, dweight, dbias);
  check_launch("batch_norm_backward_kernel");
}

#define HM_NORM_INSTANTIATE(T)                                                                                      \
  template void layer_norm_forward_rowwise<T>(const T*, const T*, const T*, T, int64_t, int64_t, T*, T*, T*);       \
  template void layer_norm_forward_warp<T>(const T*, const T*, const T*, T, int64_t, int64_t, T*, T*, T*);          \
  template void layer_norm_backward_rowwise<T>(const T*, const T*, const T*, const T*, const T*, int64_t, int64_t,  \
                                               T*, T*, T*);                                                         \
  template void layer_norm_backward_warp<T>(const T*, const T*, const T*, const T*, const T*, int64_t, int64_t, T*, \
                                            T*, T*);                                                                \
  template void group_norm_forward<T>(const T*, const T*, const T*, T, int64_t, int64_t, int64_t, int64_t, T*, T*,  \
                                      T*);                                                                          \
  template void group_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, \
                                       int64_t, T*, T*, T*);                                                        \
  template int64_t batch_norm_stats<T>(const T*, const uint8_t*, int64_t, int64_t, int64_t, T*, T*);              \
  template void batch_norm_update_running<T>(const T*, const T*, int64_t, T, int64_t, T*, T*);                      \
  template void batch_norm_rstd<T>(const T*, T, int64_t, T*);                                                       \
  template void batch_norm_apply<T>(const T*, const T*, const T*, const T*, const T*, int64_t, int64_t, int64_t,    \
                                    T*);                                                                            \
  template void batch_norm_backward<T>(const T*, const T*, const uint8_t*, const T*, const T*, const T*, bool,      \
                                       int64_t, int64_t, int64_t, int64_t, T*, T*, T*);
HM_NORM_INSTANTIATE(float)
HM_NORM_INSTANTIATE(double)
#undef HM_NORM_INSTANTIATE

}  // namespace hm::cuda
