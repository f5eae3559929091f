// CUDA CTC loss (cuda/ctc.h): the log-space alpha / beta recursions of cpu/loss_ctc.cpp (torch's
// ctc_loss_cpu_template / ctc_loss_backward_cpu_template), with one block per batch element whose threads cover
// the 2 * tl + 1 extended-label states of one time step and synchronise before the next (the recursion is
// sequential in t). alpha is kept (B, T, A) in global memory for the backward, as the CPU op does.
#include "cuda/ctc.h"

#include <cuda_runtime.h>

#include <cmath>

#include "cuda/norm_common.cuh"
#include "cuda/runtime.h"

namespace hm::cuda {
namespace {

using detail::kBlock;

template <class T>
__device__ __forceinline__ T neg_inf() {
  return T(-INFINITY);
}

// log(exp(a) + exp(b) + exp(c)) with torch's convention: shift by the max, or by 0 when all are -inf.
template <class T>
__device__ T log_sum3(T a, T b, T c) {
  T m = a > b ? a : b;
  m = m > c ? m : c;
  if (m == neg_inf<T>()) m = 0;
  return log(exp(a - m) + exp(b - m) + exp(c - m)) + m;
}

template <class T>
__device__ T log_add(T a, T b) {
  T m = a > b ? a : b;
  if (m == neg_inf<T>()) m = 0;
  return log(exp(a - m) + exp(b - m)) + m;
}

// One batch element's view of the inputs (cpu/loss_ctc.cpp CtcItem).
template <class T>
struct CtcItem {
  const T* lp;        // log_probs + b * C; frame t at lp[t * lp_stride]
  int64_t lp_stride;  // B * C
  const int64_t* tg;  // its labels (tl)
  int64_t il, tl, blank;
  __device__ T log_prob(int64_t t, int64_t c) const { return lp[t * lp_stride + c]; }
  // Label of state s of the extended target (blank, l1, blank, l2, ..., blank).
  __device__ int64_t label(int64_t s) const { return (s % 2 == 0) ? blank : tg[s / 2]; }
};

template <class T>
__device__ CtcItem<T> item(const T* log_probs, const int64_t* targets, const int64_t* offsets, const int64_t* il,
                           const int64_t* tl, int64_t B, int64_t C, int64_t blank, int64_t b) {
  return {log_probs + b * C, B * C, targets + offsets[b], il[b], tl[b], blank};
}

// grid (T * B * C / kBlock, capped), block kBlock: atomicMin of the CPU scan index (b * T + t) * C + c over the NaN
// elements with t < il[b] (integer atomics: the result does not depend on the order).
template <class T>
__global__ void ctc_first_nan_kernel(const T* log_probs, const int64_t* il, int64_t max_time, int64_t B, int64_t C,
                                     unsigned long long* first) {
  const int64_t total = max_time * B * C;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = i / (B * C), b = (i / C) % B, c = i % C;
    if (t < il[b] && isnan(log_probs[i])) atomicMin(first, (unsigned long long)((b * max_time + t) * C + c));
  }
}

// grid (B), block kBlock. alpha[0, 0] = lp[0, blank], alpha[0, 1] = lp[0, l'_1];
// alpha[t, s] = lp[t, l'_s] + logsumexp(alpha[t-1, s], alpha[t-1, s-1], alpha[t-1, s-2] if l'_s != l'_{s-2}).
template <class T>
__global__ void ctc_forward_kernel(const T* log_probs, const int64_t* targets, const int64_t* offsets,
                                   const int64_t* il, const int64_t* tl, int64_t max_time, int64_t B, int64_t C,
                                   int64_t A, int64_t blank, T* nll, T* log_alpha) {
  const int64_t b = blockIdx.x;
  const CtcItem<T> it = item(log_probs, targets, offsets, il, tl, B, C, blank, b);
  T* la = log_alpha + b * max_time * A;  // (T, A)
  for (int64_t i = threadIdx.x; i < max_time * A; i += blockDim.x) la[i] = neg_inf<T>();
  if (it.il == 0) {  // uniform over the block: torch 1.13 gives 0 for an empty target, +inf otherwise
    if (threadIdx.x == 0) nll[b] = it.tl == 0 ? T(0) : T(INFINITY);
    return;
  }
  const int64_t S = 2 * it.tl + 1;
  __syncthreads();  // the fill above is done before thread 0 overwrites row 0
  if (threadIdx.x == 0) {
    la[0] = it.log_prob(0, blank);
    if (it.tl > 0) la[1] = it.log_prob(0, it.label(1));
  }
  for (int64_t t = 1; t < it.il; ++t) {
    __syncthreads();  // row t - 1 is complete
    const T* prev = la + (t - 1) * A;  // (A)
    T* cur = la + t * A;               // (A)
    for (int64_t s = threadIdx.x; s < S; s += blockDim.x) {
      const int64_t c = it.label(s);
      const T a2 = s > 0 ? prev[s - 1] : neg_inf<T>();
      // The skip transition s-2 -> s is allowed between different labels only (never into a blank).
      const T a3 = (s > 1 && it.label(s - 2) != c) ? prev[s - 2] : neg_inf<T>();
      cur[s] = log_sum3(prev[s], a2, a3) + it.log_prob(t, c);
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    const T* last = la + (it.il - 1) * A;
    nll[b] = it.tl == 0 ? -last[0] : -log_add(last[S - 1], last[S - 2]);
  }
}

// grid (B), block kBlock: torch's ctc_loss_backward_cpu_template.
//   beta[il-1, 2tl] = lp[il-1, blank], beta[il-1, 2tl-1] = lp[il-1, l'_{2tl-1}]
//   beta[t, s] = lp[t, l'_s] + logsumexp(beta[t+1, s], beta[t+1, s+1], beta[t+1, s+2] if l'_s != l'_{s+2})
//   grad[t, b, c] = scale * (exp(lp[t, c]) - exp(logsumexp_{s: l'_s = c}(alpha + beta)[t, s] + nll - lp[t, c]))
// for t < il, 0 for t >= il and for elements dropped by zero_infinity.
template <class T>
__global__ void ctc_backward_kernel(const T* log_probs, const int64_t* targets, const int64_t* offsets,
                                    const int64_t* il, const int64_t* tl, int64_t max_time, int64_t B, int64_t C,
                                    int64_t A, int64_t blank, const T* nll, const T* log_alpha, const T* grad_scale,
                                    bool zero_infinity, T* log_beta, T* grad) {
  const int64_t b = blockIdx.x;
  const CtcItem<T> it = item(log_probs, targets, offsets, il, tl, B, C, blank, b);
  const T nl = nll[b];
  const bool dropped = zero_infinity && nl == T(INFINITY);
  // Frames past the input length (every frame when dropped) get zero gradient.
  const int64_t t0 = dropped ? 0 : it.il;
  for (int64_t i = threadIdx.x; i < (max_time - t0) * C; i += blockDim.x)
    grad[((t0 + i / C) * B + b) * C + i % C] = 0;
  if (dropped || it.il == 0) return;  // uniform over the block

  const T scale = grad_scale[b];
  const T* la = log_alpha + b * max_time * A;  // (T, A)
  T* lb = log_beta + b * max_time * A;         // (T, A)
  for (int64_t i = threadIdx.x; i < max_time * A; i += blockDim.x) lb[i] = neg_inf<T>();
  const int64_t S = 2 * it.tl + 1, t_last = it.il - 1;
  __syncthreads();
  if (threadIdx.x == 0) {
    lb[t_last * A + S - 1] = it.log_prob(t_last, blank);
    if (it.tl > 0) lb[t_last * A + S - 2] = it.log_prob(t_last, it.label(S - 2));
  }
  for (int64_t t = it.il - 2; t >= 0; --t) {
    __syncthreads();  // row t + 1 is complete
    const T* next = lb + (t + 1) * A;  // (A)
    T* cur = lb + t * A;               // (A)
    for (int64_t s = threadIdx.x; s < S; s += blockDim.x) {
      const int64_t c = it.label(s);
      const T b2 = s < S - 1 ? next[s + 1] : neg_inf<T>();
      const T b3 = (s < S - 2 && it.label(s + 2) != c) ? next[s + 2] : neg_inf<T>();
      cur[s] = log_sum3(next[s], b2, b3) + it.log_prob(t, c);
    }
  }
  __syncthreads();
  // One thread per (t, c): the CPU's accumulation over s = S-1 .. 0 with l'_s = c, in the same order.
  for (int64_t i = threadIdx.x; i < it.il * C; i += blockDim.x) {
    const int64_t t = i / C, c = i % C;
    T acc = neg_inf<T>();
    for (int64_t s = S - 1; s >= 0; --s) {
      if (it.label(s) != c) continue;
      const T lab = la[t * A + s] + lb[t * A + s];
      acc = acc == neg_inf<T>() ? lab : log_add(acc, lab);
    }
    const T lp = it.log_prob(t, c);
    grad[(t * B + b) * C + c] = (exp(lp) - exp(acc + nl - lp)) * scale;
  }
}

}  // namespace

template <class T>
int64_t ctc_first_nan(const T* log_probs, const int64_t* input_lengths, int64_t max_time, int64_t B, int64_t C) {
  const int64_t total = max_time * B * C;
  if (total == 0) return -1;
  auto* first = static_cast<unsigned long long*>(scratch(sizeof(unsigned long long)));
  check(cudaMemsetAsync(first, 0xff, sizeof(unsigned long long), stream()), "ctc_first_nan memset");
  ctc_first_nan_kernel<T><<<grid_for(total, kBlock), kBlock, 0, stream()>>>(log_probs, input_lengths, max_time, B, C,
                                                                            first);
  check_launch("ctc_first_nan_kernel");
  unsigned long long host = 0;
  copy_to_host(&host, first, sizeof(host));
  release(first, sizeof(unsigned long long));
  return host == ~0ull ? -1 : int64_t(host);
}

template <class T>
void ctc_loss_forward(const T* log_probs, const int64_t* targets, const int64_t* target_offsets,
                      const int64_t* input_lengths, const int64_t* target_lengths, int64_t max_time, int64_t B,
                      int64_t C, int64_t max_target, int64_t blank, T* nll, T* log_alpha) {
  if (B == 0) return;
  ctc_forward_kernel<T><<<unsigned(B), kBlock, 0, stream()>>>(log_probs, targets, target_offsets, input_lengths,
                                                              target_lengths, max_time, B, C, 2 * max_target + 1,
                                                              blank, nll, log_alpha);
  check_launch("ctc_forward_kernel");
}

template <class T>
void ctc_loss_backward(const T* log_probs, const int64_t* targets, const int64_t* target_offsets,
                       const int64_t* input_lengths, const int64_t* target_lengths, int64_t max_time, int64_t B,
                       int64_t C, int64_t max_target, int64_t blank, const T* nll, const T* log_alpha,
                       const T* grad_scale, bool zero_infinity, T* grad) {
  if (B == 0) return;
  const int64_t A = 2 * max_target + 1;
  const size_t bytes = size_t(B * max_time * A) * sizeof(T);
  T* log_beta = static_cast<T*>(scratch(bytes));  // (B, T, A)
  ctc_backward_kernel<T><<<unsigned(B), kBlock, 0, stream()>>>(log_probs, targets, target_offsets, input_lengths,
                                                               target_lengths, max_time, B, C, A, blank, nll,
                                                               log_alpha, grad_scale, zero_infinity, log_beta, grad);
  check_launch("ctc_backward_kernel");
  release(log_beta, bytes);
}

template int64_t ctc_first_nan<float>(const float*, const int64_t*, int64_t, int64_t, int64_t);
template int64_t ctc_first_nan<double>(const double*, const int64_t*, int64_t, int64_t, int64_t);
template void ctc_loss_forward<float>(const float*, const int64_t*, const int64_t*, const int64_t*, const int64_t*,
                                      int64_t, int64_t, int64_t, int64_t, int64_t, float*, float*);
template void ctc_loss_forward<double>(const double*, const int64_t*, const int64_t*, const int64_t*, const int64_t*,
                                       int64_t, int64_t, int64_t, int64_t, int64_t, double*, double*);
template void ctc_loss_backward<float>(const float*, const int64_t*, const int64_t*, const int64_t*, const int64_t*,
                                       int64_t, int64_t, int64_t, int64_t, int64_t, const float*, const float*,
                                       const float*, bool, float*);
template void ctc_loss_backward<double>(const double*, const int64_t*, const int64_t*, const int64_t*, const int64_t*,
                                        int64_t, int64_t, int64_t, int64_t, int64_t, const double*, const double*,
                                        const double*, bool, double*);

}  // namespace hm::cuda
