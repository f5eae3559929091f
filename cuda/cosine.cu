// Cosine-similarity kernels (cuda/cosine.h). Row reductions use one warp per row (lanes stride over D, then a
// shuffle tree); everything else is one thread per output element with its sum in a fixed order, so every kernel
// here is deterministic.

#include "cuda/cosine.h"
#include "cuda/runtime.h"

namespace hm::cuda {
namespace {

__device__ __forceinline__ int64_t thread_id() { return blockIdx.x * int64_t(blockDim.x) + threadIdx.x; }
__device__ __forceinline__ int64_t thread_count() { return int64_t(gridDim.x) * blockDim.x; }


constexpr int kWarpsPerBlock = 8;

template <class T>
__device__ T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// <a, b> over D with one warp; every lane returns the total.
template <class T>
__device__ T warp_dot(const T* a, const T* b, int64_t D) {
  T s = 0;
  for (int64_t k = threadIdx.x % 32; k < D; k += 32) s += a[k] * b[k];
  return warp_sum(s);
}

// Warp w of the grid handles rows w, w + warps, ...
__device__ __forceinline__ int64_t warp_id() { return thread_id() / 32; }
__device__ __forceinline__ int64_t warp_count() { return thread_count() / 32; }

template <class T>
__global__ void row_norms_kernel(const T* A, int64_t R, int64_t D, T eps, T* norm) {
  for (int64_t r = warp_id(); r < R; r += warp_count()) {
    const T s = warp_dot(A + r * D, A + r * D, D);
    if (threadIdx.x % 32 == 0) norm[r] = max(sqrt(s), eps);
  }
}

template <class T>
__global__ void forward_pairs_kernel(const T* A, const T* na, const T* B, const T* nb, const int64_t* ia,
                                     const int64_t* ib, int64_t O, int64_t D, T* y) {
  for (int64_t o = warp_id(); o < O; o += warp_count()) {
    const T s = warp_dot(A + ia[o] * D, B + ib[o] * D, D);
    if (threadIdx.x % 32 == 0) y[o] = s / (na[ia[o]] * nb[ib[o]]);
  }
}

// cpu::cosine_side_backward (cpu/cosine.cpp) per element: the same terms in the same order.
template <class T>
__global__ void backward_rows_kernel(const T* dy, const T* y, const T* X, const T* nx, const T* Y, const T* ny,
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

// row_sums[i] = sum_j dy[i][j] y[i][j]: one warp per row (lanes over j, then the shuffle tree: a fixed order).
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

template <class T>
__global__ void diagonal_term_kernel(const T* X, const T* nx, const T* sums, int64_t R, int64_t D, T* dX) {
  for (int64_t i = thread_id(); i < R * D; i += thread_count()) {
    const int64_t r = i / D;
    dX[i] = -(sums[r] / (nx[r] * nx[r])) * X[i];
  }
}

int warp_blocks(int64_t rows) { return grid_for(rows * 32, 32 * kWarpsPerBlock); }

}  // namespace

template <class T>
void cosine_row_norms(const T* A, int64_t R, int64_t D, T eps, T* norm) {
  if (R == 0) return;
  row_norms_kernel<T><<<warp_blocks(R), 32 * kWarpsPerBlock, 0, stream()>>>(A, R, D, eps, norm);
  check_launch("cosine row_norms_kernel");
}

template <class T>
void cosine_forward_pairs(const T* A, const T* na, const T* B, const T* nb, const int64_t* ia, const int64_t* ib,
                          int64_t O, int64_t D, T* y) {
  if (O == 0) return;
  forward_pairs_kernel<T><<<warp_blocks(O), 32 * kWarpsPerBlock, 0, stream()>>>(A, na, B, nb, ia, ib, O, D, y);
  check_launch("cosine forward_pairs_kernel");
}

template <class T>
void cosine_backward_rows(const T* dy, const T* y, const T* X, const T* nx, const T* Y, const T* ny,
                          const int64_t* iy, const int64_t* start, const int64_t* order, int64_t R, int64_t D,
                          T* dX) {
  if (R * D == 0) return;
  backward_rows_kernel<T><<<grid_for(R * D, 256), 256, 0, stream()>>>(dy, y, X, nx, Y, ny, iy, start, order, R, D,
                                                                        dX);
  check_launch("cosine backward_rows_kernel");
}

template <class T>
void cosine_normalize_rows(const T* X, const T* norm, int64_t R, int64_t D, T* out) {
  if (R * D == 0) return;
  normalize_rows_kernel<T><<<grid_for(R * D, 256), 256, 0, stream()>>>(X, norm, R, D, out);
  check_launch("cosine normalize_rows_kernel");
}

template <class T>
void cosine_outer_scale(const T* dy, const T* y, const T* na, const T* nb, int64_t Ra, int64_t Rb, T* S, T* row_sums,
                        T* col_sums) {
  if (Ra * Rb == 0) return;
  outer_scale_kernel<T><<<grid_for(Ra * Rb, 256), 256, 0, stream()>>>(dy, na, nb, Ra, Rb, S);
  check_launch("cosine outer_scale_kernel");
  outer_row_sums_kernel<T><<<warp_blocks(Ra), 32 * kWarpsPerBlock, 0, stream()>>>(dy, y, Ra, Rb, row_sums);
  check_launch("cosine outer_row_sums_kernel");
  outer_col_sums_kernel<T><<<grid_for(Rb, 128), 128, 0, stream()>>>(dy, y, Ra, Rb, col_sums);
  check_launch("cosine outer_col_sums_kernel");
}

template <class T>
void cosine_diagonal_term(const T* X, const T* nx, const T* sums, int64_t R, int64_t D, T* dX) {
  if (R * D == 0) return;
  diagonal_term_kernel<T><<<grid_for(R * D, 256), 256, 0, stream()>>>(X, nx, sums, R, D, dX);
  check_launch("cosine diagonal_term_kernel");
}

template void cosine_row_norms<float>(const float*, int64_t, int64_t, float, float*);
template void cosine_forward_pairs<float>(const float*, const float*, const float*, const float*, const int64_t*, const int64_t*,
                                       int64_t, int64_t, float*);
template void cosine_backward_rows<float>(const float*, const float*, const float*, const float*, const float*, const float*,
                                       const int64_t*, const int64_t*, const int64_t*, int64_t, int64_t, float*);
template void cosine_normalize_rows<float>(const float*, const float*, int64_t, int64_t, float*);
template void cosine_outer_scale<float>(const float*, const float*, const float*, const float*, int64_t, int64_t, float*, float*, float*);
template void cosine_diagonal_term<float>(const float*, const float*, const float*, int64_t, int64_t, float*);
template void cosine_row_norms<double>(const double*, int64_t, int64_t, double, double*);
template void cosine_forward_pairs<double>(const double*, const double*, const double*, const double*, const int64_t*, const int64_t*,
                                       int64_t, int64_t, double*);
template void cosine_backward_rows<double>(const double*, const double*, const double*, const double*, const double*, const double*,
                                       const int64_t*, const int64_t*, const int64_t*, int64_t, int64_t, double*);
template void cosine_normalize_rows<double>(const double*, const double*, int64_t, int64_t, double*);
template void cosine_outer_scale<double>(const double*, const double*, const double*, const double*, int64_t, int64_t, double*, double*, double*);
template void cosine_diagonal_term<double>(const double*, const double*, const double*, int64_t, int64_t, double*);

}  // namespace hm::cuda
