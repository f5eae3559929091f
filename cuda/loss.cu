// CUDA cross-entropy fused with log-softmax (cuda/loss.h): the CPU scalar kernel's math (cpu/loss_cross_entropy.cpp)
// with one block per row; the backward recomputes softmax from the saved log-sum-exp, so no (N, C) probabilities
// are stored.
#include "cuda/loss.h"

#include <cuda_runtime.h>

#include "cuda/norm_common.cuh"
#include "cuda/runtime.h"

namespace hm::cuda {
namespace {

using detail::block_max;
using detail::block_sum;
using detail::kBlock;

// grid (rows), block kBlock: lse = m + log sum_c exp(x_c - m), m = max_c x_c; loss = w_t * (lse - x_t).
template <class T>
__global__ void cross_entropy_forward_kernel(const T* logits, const int64_t* target, const T* class_weight,
                                             int64_t ignore_index, int64_t C, T* loss, T* lse, T* row_weight) {
  const int64_t i = blockIdx.x;
  const T* x = logits + i * C;  // (C)
  T m = x[0];
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) m = x[c] > m ? x[c] : m;
  m = block_max(m);
  T s = 0;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) s += exp(x[c] - m);
  s = block_sum(s);
  if (threadIdx.x != 0) return;
  const T l = m + log(s);
  lse[i] = l;
  const int64_t t = target[i];
  if (t == ignore_index) {
    loss[i] = 0;
    row_weight[i] = 0;
    return;
  }
  const T w = class_weight ? class_weight[t] : T(1);
  loss[i] = w * (l - x[t]);  // nll_loss(log_softmax(x)): -w * (x[t] - lse)
  row_weight[i] = w;
}

// grid (rows), block kBlock: dx_c = k * exp(x_c - lse) - k [c == t], k = row_grad * w_t (0 for ignored rows).
template <class T>
__global__ void cross_entropy_backward_kernel(const T* logits, const int64_t* target, const T* class_weight,
                                              int64_t ignore_index, const T* lse, const T* row_grad, int64_t C,
                                              T* dlogits) {
  const int64_t i = blockIdx.x;
  const T* x = logits + i * C;  // (C)
  T* dx = dlogits + i * C;      // (C)
  const int64_t t = target[i];
  if (t == ignore_index) {
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) dx[c] = 0;
    return;
  }
  const T k = row_grad[i] * (class_weight ? class_weight[t] : T(1));
  const T l = lse[i];
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) dx[c] = k * exp(x[c] - l) - (c == t ? k : T(0));
}

}  // namespace

template <class T>
void cross_entropy_forward(const T* logits, const int64_t* target, const T* class_weight, int64_t ignore_index,
                           int64_t rows, int64_t C, T* loss, T* lse, T* row_weight) {
  if (rows == 0) return;
  cross_entropy_forward_kernel<T>
      <<<unsigned(rows), kBlock, 0, stream()>>>(logits, target, class_weight, ignore_index, C, loss, lse, row_weight);
  check_launch("cross_entropy_forward_kernel");
}

template <class T>
void cross_entropy_backward(const T* logits, const int64_t* target, const T* class_weight, int64_t ignore_index,
                            const T* lse, const T* row_grad, int64_t rows, int64_t C, T* dlogits) {
  if (rows == 0) return;
  cross_entropy_backward_kernel<T><<<unsigned(rows), kBlock, 0, stream()>>>(logits, target, class_weight, ignore_index,
                                                                            lse, row_grad, C, dlogits);
  check_launch("cross_entropy_backward_kernel");
}

template void cross_entropy_forward<float>(const float*, const int64_t*, const float*, int64_t, int64_t, int64_t,
                                           float*, float*, float*);
template void cross_entropy_forward<double>(const double*, const int64_t*, const double*, int64_t, int64_t, int64_t,
                                            double*, double*, double*);
template void cross_entropy_backward<float>(const float*, const int64_t*, const float*, int64_t, const float*,
                                            const float*, int64_t, int64_t, float*);
template void cross_entropy_backward<double>(const double*, const int64_t*, const double*, int64_t, const double*,
                                             const double*, int64_t, int64_t, double*);

}  // namespace hm::cuda
