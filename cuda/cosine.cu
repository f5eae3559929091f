// Cosine-similarity kernels (cuda/cosine.h). Row reductions use one warp per row (lanes stride over D, then a
// shuffle tree); everything else is one thread per output element with its sum in a fixed order, so every kernel
// here is deterministic. Temporaries come from the caching allocator and go back to it after the launches that use
// them were queued (one stream: a later reuse runs after them).
#include <algorithm>
#include <vector>

#include "cuda/blas.h"
#include "cuda/cosine.h"
#include "cuda/runtime.h"

namespace hm::cuda {
namespace {

__device__ __forceinline__ int64_t thread_id() { return blockIdx.x * int64_t(blockDim.x) + threadIdx.x; }
__device__ __forceinline__ int64_t thread_count() { return int64_t(gridDim.x) * blockDim.x; }
// Warp w of the grid handles rows w, w + warps, ...
__device__ __forceinline__ int64_t warp_id() { return thread_id() / 32; }
__device__ __forceinline__ int64_t warp_count() { return thread_count() / 32; }

constexpr int kWarpsPerBlock = 8;
unsigned warp_blocks(int64_t rows) { return grid_for(rows * 32, 32 * kWarpsPerBlock); }

template <class T>
__device__ T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// <a, b> over n elements with one warp; every lane returns the total.
template <class T>
__device__ T warp_dot(const T* a, const T* b, int64_t n) {
  T s = 0;
  for (int64_t k = threadIdx.x % 32; k < n; k += 32) s += a[k] * b[k];
  return warp_sum(s);
}

template <class T>
__global__ void row_norms_kernel(const T* A, int64_t R, int64_t D, T eps, T* norm) {
  for (int64_t r = warp_id(); r < R; r += warp_count()) {
    const T s = warp_dot(A + r * D, A + r * D, D);
    if (threadIdx.x % 32 == 0) norm[r] = max(sqrt(s), eps);
  }
}

template <class T>
__global__ void forward_kernel(const T* A, const T* na, const T* B, const T* nb, const int64_t* ia, const int64_t* ib,
                               int64_t O, int64_t D, T* y) {
  for (int64_t o = warp_id(); o < O; o += warp_count()) {
    const T s = warp_dot(A + ia[o] * D, B + ib[o] * D, D);
    if (threadIdx.x % 32 == 0) y[o] = s / (na[ia[o]] * nb[ib[o]]);
  }
}

// cpu::cosine_side_backward (cpu/cosine.cpp) per element: X the side whose gradient is computed, Y its partner,
// the outputs of row r at order[start[r] .. start[r + 1]); the same terms in the same order.
template <class T>
__global__ void side_backward_kernel(const T* dy, const T* y, const T* X, const T* nx, const T* Y, const T* ny,
                                     const int64_t* iy, const int64_t* start, const int64_t* order, int64_t R,
                                     int64_t D, T* dX) {
  for (int64_t i = thread_id(); i < R * D; i += thread_count()) {
    const int64_t r = i / D, j = i % D;
    T g = 0, self = 0;  // self: sum_o dy[o] * y[o], the coefficient of -X[r] / nx^2
    for (int64_t k = start[r]; k < start[r + 1]; ++k) {
      const int64_t o = order[k];
      const T c = dy[o] / (nx[r] * ny[iy[o]]);
      g += c * Y[iy[o] * D + j];
      self += dy[o] * y[o];
    }
    dX[i] = g - self / (nx[r] * nx[r]) * X[i];
  }
}

template <class T>
__global__ void normalize_rows_kernel(const T* X, const T* norm, int64_t R, int64_t D, T* out) {
  for (int64_t i = thread_id(); i < R * D; i += thread_count()) out[i] = X[i] / norm[i / D];
}

template <class T>
__global__ void outer_scale_kernel(const T* dy, const T* na, const T* nb, int64_t Ra, int64_t Rb, T* S) {
  for (int64_t i = thread_id(); i < Ra * Rb; i += thread_count()) S[i] = dy[i] / (na[i / Rb] * nb[i % Rb]);
}

// row_sums[i] = sum_j dy[i][j] y[i][j]: one warp per row (lanes over j, then the shuffle tree).
template <class T>
__global__ void outer_row_sums_kernel(const T* dy, const T* y, int64_t Ra, int64_t Rb, T* row_sums) {
  for (int64_t r = warp_id(); r < Ra; r += warp_count()) {
    const T s = warp_dot(dy + r * Rb, y + r * Rb, Rb);
    if (threadIdx.x % 32 == 0) row_sums[r] = s;
  }
}

// col_sums[j] = sum_i dy[i][j] y[i][j]: one thread per column, rows in order (adjacent threads read adjacent j).
template <class T>
__global__ void outer_col_sums_kernel(const T* dy, const T* y, int64_t Ra, int64_t Rb, T* col_sums) {
  for (int64_t j = thread_id(); j < Rb; j += thread_count()) {
    T s = 0;
    for (int64_t i = 0; i < Ra; ++i) s += dy[i * Rb + j] * y[i * Rb + j];
    col_sums[j] = s;
  }
}

// dX[r] = -(sums[r] / nx[r]^2) X[r]
template <class T>
__global__ void diagonal_term_kernel(const T* X, const T* nx, const T* sums, int64_t R, int64_t D, T* dX) {
  for (int64_t i = thread_id(); i < R * D; i += thread_count()) {
    const int64_t r = i / D;
    dX[i] = -(sums[r] / (nx[r] * nx[r])) * X[i];
  }
}

// A caching-allocator buffer of n elements of T, returned to the cache when the scope ends (after the launches that
// use it were queued on the one stream).
template <class T>
struct Scratch {
  explicit Scratch(int64_t n) : bytes(size_t(n) * sizeof(T)), p(static_cast<T*>(scratch(bytes))) {}
  ~Scratch() { release(p, bytes); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  size_t bytes;
  T* p;
};

void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
          int64_t ldb, float beta, float* C, int64_t ldc) {
  cublas_gemm_f32(ta, tb, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
          const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  cublas_gemm_f64(ta, tb, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

// One side of the pairs backward: the outputs of each row of X grouped on the host (counting sort of ix, stable:
// ascending o within a row), then side_backward_kernel.
template <class T>
void side_backward(const T* dy, const T* y, const T* X, const T* nx, const T* Y, const T* ny, const int64_t* ix,
                   const int64_t* iy, int64_t O, int64_t R, int64_t D, T* dX) {
  if (R * D == 0) return;
  std::vector<int64_t> idx(static_cast<size_t>(O)), start(static_cast<size_t>(R + 1), 0), order(idx.size());
  copy_to_host(idx.data(), ix, size_t(O) * sizeof(int64_t));
  for (int64_t o = 0; o < O; ++o) start[size_t(idx[size_t(o)] + 1)]++;
  for (int64_t r = 0; r < R; ++r) start[size_t(r + 1)] += start[size_t(r)];
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (int64_t o = 0; o < O; ++o) order[size_t(fill[size_t(idx[size_t(o)])]++)] = o;
  Scratch<int64_t> d_start(R + 1), d_order(std::max<int64_t>(O, 1));  // (R + 1), (O)
  copy_from_host(d_start.p, start.data(), start.size() * sizeof(int64_t));
  copy_from_host(d_order.p, order.data(), order.size() * sizeof(int64_t));
  side_backward_kernel<T>
      <<<grid_for(R * D, 256), 256, 0, stream()>>>(dy, y, X, nx, Y, ny, iy, d_start.p, d_order.p, R, D, dX);
  check_launch("cosine side_backward_kernel");
}

// The outer layout's backward for side X (R rows; the rows of S (Ra, Rb) when transpose_s is false, its columns
// when true): the diagonal term, then dX += S' Y (Ry, D) with S' = S or S^T, as cpu::cosine_backward_outer.
template <class T>
void outer_side(const T* S, int64_t Rb, bool transpose_s, const T* X, const T* nx, const T* sums, int64_t R, const T* Y,
                int64_t Ry, int64_t D, T* dX) {
  diagonal_term_kernel<T><<<grid_for(R * D, 256), 256, 0, stream()>>>(X, nx, sums, R, D, dX);
  check_launch("cosine diagonal_term_kernel");
  gemm(transpose_s, false, R, D, Ry, T(1), S, Rb, Y, D, T(1), dX, D);
}

}  // namespace

template <class T>
void cosine_row_norms(const T* A, int64_t R, int64_t D, T eps, T* norm) {
  if (R == 0) return;
  row_norms_kernel<T><<<warp_blocks(R), 32 * kWarpsPerBlock, 0, stream()>>>(A, R, D, eps, norm);
  check_launch("cosine row_norms_kernel");
}

template <class T>
void cosine_forward(const T* A, const T* na, const T* B, const T* nb, const int64_t* ia, const int64_t* ib, int64_t O,
                    int64_t D, T* y) {
  if (O == 0) return;
  forward_kernel<T><<<warp_blocks(O), 32 * kWarpsPerBlock, 0, stream()>>>(A, na, B, nb, ia, ib, O, D, y);
  check_launch("cosine forward_kernel");
}

template <class T>
void cosine_backward(const T* dy, const T* y, const T* A, const T* na, const T* B, const T* nb, const int64_t* ia,
                     const int64_t* ib, int64_t O, int64_t Ra, int64_t Rb, int64_t D, T* dA, T* dB) {
  if (dA) side_backward(dy, y, A, na, B, nb, ia, ib, O, Ra, D, dA);
  if (dB) side_backward(dy, y, B, nb, A, na, ib, ia, O, Rb, D, dB);
}

template <class T>
void cosine_forward_outer(const T* A, const T* na, const T* B, const T* nb, int64_t Ra, int64_t Rb, int64_t D, T* y) {
  if (Ra == 0 || Rb == 0) return;
  if (D == 0) {  // empty dot products
    check(cudaMemsetAsync(y, 0, size_t(Ra * Rb) * sizeof(T), stream()), "cudaMemsetAsync (cosine, D = 0)");
    return;
  }
  Scratch<T> an(Ra * D), bn(Rb * D);  // (Ra, D), (Rb, D): the normalised rows
  normalize_rows_kernel<T><<<grid_for(Ra * D, 256), 256, 0, stream()>>>(A, na, Ra, D, an.p);
  check_launch("cosine normalize_rows_kernel");
  normalize_rows_kernel<T><<<grid_for(Rb * D, 256), 256, 0, stream()>>>(B, nb, Rb, D, bn.p);
  check_launch("cosine normalize_rows_kernel");
  gemm(false, true, Ra, Rb, D, T(1), an.p, D, bn.p, D, T(0), y, Rb);
}

template <class T>
void cosine_backward_outer(const T* dy, const T* y, const T* A, const T* na, const T* B, const T* nb, int64_t Ra,
                           int64_t Rb, int64_t D, T* dA, T* dB) {
  if (Ra == 0 || Rb == 0 || D == 0) {  // empty products: zero gradients
    if (dA) check(cudaMemsetAsync(dA, 0, size_t(Ra * D) * sizeof(T), stream()), "cudaMemsetAsync (cosine dA)");
    if (dB) check(cudaMemsetAsync(dB, 0, size_t(Rb * D) * sizeof(T), stream()), "cudaMemsetAsync (cosine dB)");
    return;
  }
  Scratch<T> S(Ra * Rb), row(Ra), col(Rb);  // (Ra, Rb) dy / (na nb^T); sums of dy * y over b, over a
  outer_scale_kernel<T><<<grid_for(Ra * Rb, 256), 256, 0, stream()>>>(dy, na, nb, Ra, Rb, S.p);
  check_launch("cosine outer_scale_kernel");
  outer_row_sums_kernel<T><<<warp_blocks(Ra), 32 * kWarpsPerBlock, 0, stream()>>>(dy, y, Ra, Rb, row.p);
  check_launch("cosine outer_row_sums_kernel");
  outer_col_sums_kernel<T><<<grid_for(Rb, 128), 128, 0, stream()>>>(dy, y, Ra, Rb, col.p);
  check_launch("cosine outer_col_sums_kernel");
  if (dA) outer_side(S.p, Rb, false, A, na, row.p, Ra, B, Rb, D, dA);
  if (dB) outer_side(S.p, Rb, true, B, nb, col.p, Rb, A, Ra, D, dB);
}

template void cosine_row_norms<float>(const float*, int64_t, int64_t, float, float*);
template void cosine_row_norms<double>(const double*, int64_t, int64_t, double, double*);
template void cosine_forward<float>(const float*, const float*, const float*, const float*, const int64_t*,
                                    const int64_t*, int64_t, int64_t, float*);
template void cosine_forward<double>(const double*, const double*, const double*, const double*, const int64_t*,
                                     const int64_t*, int64_t, int64_t, double*);
template void cosine_backward<float>(const float*, const float*, const float*, const float*, const float*, const float*,
                                     const int64_t*, const int64_t*, int64_t, int64_t, int64_t, int64_t, float*,
                                     float*);
template void cosine_backward<double>(const double*, const double*, const double*, const double*, const double*,
                                      const double*, const int64_t*, const int64_t*, int64_t, int64_t, int64_t, int64_t,
                                      double*, double*);
template void cosine_forward_outer<float>(const float*, const float*, const float*, const float*, int64_t, int64_t,
                                          int64_t, float*);
template void cosine_forward_outer<double>(const double*, const double*, const double*, const double*, int64_t, int64_t,
                                           int64_t, double*);
template void cosine_backward_outer<float>(const float*, const float*, const float*, const float*, const float*,
                                           const float*, int64_t, int64_t, int64_t, float*, float*);
template void cosine_backward_outer<double>(const double*, const double*, const double*, const double*, const double*,
                                            const double*, int64_t, int64_t, int64_t, double*, double*);

}  // namespace hm::cuda
