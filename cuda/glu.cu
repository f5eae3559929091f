// CUDA GLU (cuda/glu.h): one thread per output element in a grid-stride loop over (P, n).
#include "cuda/common.cuh"
#include "cuda/glu.h"

namespace hm::cuda {
namespace {

// sigmoid through exp(-|v|) <= 1 (cpu/glu.cpp), so nothing overflows for any v.
template <class T>
__device__ __forceinline__ T stable_sigmoid(T v) {
  const T e = detail::dexp(-fabs(v));
  return v >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
}

// Index: uint32_t when P * n fits (cheaper division), int64_t otherwise.
template <class T, class Index>
__global__ void glu_forward_kernel(const T* x, T* y, int64_t P, int64_t n) {
  const int64_t total = P * n;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t p = int64_t(Index(k) / Index(n)), i = k - p * n;
    const T* a = x + p * 2 * n;  // (n), the gate half b = a + n
    y[k] = a[i] * stable_sigmoid(a[n + i]);
  }
}

template <class T, class Index>
__global__ void glu_backward_kernel(const T* dy, const T* x, T* dx, int64_t P, int64_t n) {
  const int64_t total = P * n;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t p = int64_t(Index(k) / Index(n)), i = k - p * n;
    const T* a = x + p * 2 * n;  // (n), gate half at a + n
    T* da = dx + p * 2 * n;      // (n), gate gradient at da + n
    const T s = stable_sigmoid(a[n + i]);
    da[i] = dy[k] * s;
    da[n + i] = dy[k] * a[i] * s * (T(1) - s);
  }
}

}  // namespace

template <class T>
void glu_forward(const T* x, T* y, int64_t P, int64_t n) {
  if (P * n == 0) return;
  if (P * n <= int64_t(INT32_MAX))
    glu_forward_kernel<T, uint32_t><<<grid_for(P * n, detail::kThreads), detail::kThreads, 0, stream()>>>(x, y, P, n);
  else
    glu_forward_kernel<T, int64_t><<<grid_for(P * n, detail::kThreads), detail::kThreads, 0, stream()>>>(x, y, P, n);
  check_launch("glu_forward_kernel");
}

template <class T>
void glu_backward(const T* dy, const T* x, T* dx, int64_t P, int64_t n) {
  if (P * n == 0) return;
  if (P * n <= int64_t(INT32_MAX))
    glu_backward_kernel<T, uint32_t>
        <<<grid_for(P * n, detail::kThreads), detail::kThreads, 0, stream()>>>(dy, x, dx, P, n);
  else
    glu_backward_kernel<T, int64_t>
        <<<grid_for(P * n, detail::kThreads), detail::kThreads, 0, stream()>>>(dy, x, dx, P, n);
  check_launch("glu_backward_kernel");
}

template void glu_forward<float>(const float*, float*, int64_t, int64_t);
template void glu_forward<double>(const double*, double*, int64_t, int64_t);
template void glu_backward<float>(const float*, const float*, float*, int64_t, int64_t);
template void glu_backward<double>(const double*, const double*, double*, int64_t, int64_t);

}  // namespace hm::cuda
