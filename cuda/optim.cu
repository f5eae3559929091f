#include "cuda/optim.h"

#include "cuda/runtime.h"

namespace hm::cuda {
namespace {

constexpr int kThreads = 256;

// Same arithmetic as the CPU scalar variant (ops/optimizer.cpp), in double, one element per thread-iteration.
template <class T>
__global__ void adam_kernel(T* w, const T* g, T* m, T* v, int64_t n, AdamArgs a) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < n; k += int64_t(gridDim.x) * blockDim.x) {
    double grad = double(g[k]);
    if (!a.decoupled) grad += a.weight_decay * double(w[k]);
    const double mk = a.beta1 * double(m[k]) + (1 - a.beta1) * grad;
    const double vk = a.beta2 * double(v[k]) + (1 - a.beta2) * grad * grad;
    m[k] = T(mk);
    v[k] = T(vk);
    double wk = double(w[k]);
    if (a.decoupled) wk -= a.lr * a.weight_decay * wk;
    wk -= a.lr * (mk / a.bc1) / (sqrt(vk / a.bc2) + a.eps);
    w[k] = T(wk);
  }
}

// One block per array: each thread sums a strided slice, then a fixed shared-memory tree; no atomics, so the
// result does not depend on scheduling.
template <class T>
__global__ void sum_squares_kernel(const T* const* arrays, const int64_t* sizes, double* out) {
  __shared__ double partial[kThreads];
  const T* x = arrays[blockIdx.x];
  const int64_t n = sizes[blockIdx.x];
  double acc = 0;
  for (int64_t k = threadIdx.x; k < n; k += blockDim.x) acc += double(x[k]) * double(x[k]);
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (int(threadIdx.x) < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = partial[0];
}

template <class T>
void adam(T* w, const T* g, T* m, T* v, int64_t n, const AdamArgs& a) {
  if (n == 0) return;
  adam_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(w, g, m, v, n, a);
  check_launch("adam_update");
}

template <class T>
void sum_squares(const T* const* arrays, const int64_t* sizes, int64_t n, double* out) {
  if (n == 0) return;
  sum_squares_kernel<T><<<unsigned(n), kThreads, 0, stream()>>>(arrays, sizes, out);
  check_launch("sum_squares");
}

}  // namespace

void adam_update_f32(float* w, const float* g, float* m, float* v, int64_t n, const AdamArgs& a) {
  adam(w, g, m, v, n, a);
}
void adam_update_f64(double* w, const double* g, double* m, double* v, int64_t n, const AdamArgs& a) {
  adam(w, g, m, v, n, a);
}
void sum_squares_f32(const float* const* arrays, const int64_t* sizes, int64_t n, double* out) {
  sum_squares(arrays, sizes, n, out);
}
void sum_squares_f64(const double* const* arrays, const int64_t* sizes, int64_t n, double* out) {
  sum_squares(arrays, sizes, n, out);
}

}  // namespace hm::cuda
