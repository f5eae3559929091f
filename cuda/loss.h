// CUDA cross-entropy fused with log-softmax (torch.nn.functional.cross_entropy): host launchers over raw DEVICE
// pointers + sizes, launched on hm::cuda::stream(). T is float or double (explicit instantiations in
// cuda/loss.cu). The forward has the cpu::CrossEntropyForwardFn contract (cpu/loss.h), so the CPU scalar kernel is
// the conformance reference; the reduction and the backward's per-row factor are computed on the device, so no
// value has to come back to the host. Targets are int64 on the device, already range-checked by the op.
// Plain C++ header (no CUDA types).
#pragma once
#include <cstdint>

namespace hm::cuda {

// How a loss is reduced; the values are those of hm::LossReduction (ops/loss.h): 0 none, 1 mean, 2 sum.
constexpr int kReduceNone = 0, kReduceMean = 1, kReduceSum = 2;

// loss[i] = w_i * (lse[i] - x[i, t_i]), lse[i] = log sum_c exp(x[i, c]), w_i = weight[t_i] (1 without weights, 0
// when t_i == ignore_index). One 256-thread block per row (max-shifted log-sum-exp).
template <class T>
void cross_entropy_forward(const T* logits,        // (rows, C)
                           const int64_t* target,  // (rows)
                           const T* class_weight,  // (C) or null
                           int64_t ignore_index, int64_t rows, int64_t C,
                           T* loss,         // (rows)
                           T* lse,          // (rows)
                           T* row_weight);  // (rows)

// Reduction of the per-row losses (reduction mean or sum), accumulated in double in one block:
//   total_weight[0] = sum_i row_weight[i]
//   out[0] = sum_i loss[i] (sum)  or  sum_i loss[i] / total_weight (mean; NaN when every row is ignored, as torch)
template <class T>
void cross_entropy_reduce(const T* loss, const T* row_weight, int64_t rows, int reduction,
                          T* out,                 // (1)
                          double* total_weight);  // (1)

// dlogits[i, c] = g_i * w_i * (softmax(x[i])[c] - [c == t_i]) with g_i = dL / dloss[i] from the upstream gradient:
//   none: grad_out[i] (grad_out is (rows)); sum: grad_out[0]; mean: grad_out[0] / total_weight[0].
// Ignored rows get 0. One block per row; total_weight is only read for mean (may be null otherwise).
template <class T>
void cross_entropy_backward(const T* logits, const int64_t* target, const T* class_weight, int64_t ignore_index,
                            const T* lse,  // (rows)
                            const T* grad_out, int reduction, const double* total_weight, int64_t rows, int64_t C,
                            T* dlogits);  // (rows, C)

}  // namespace hm::cuda
