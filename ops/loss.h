// Loss ops (DESIGN.md 3, ops/loss.cpp): cross-entropy fused with log-softmax, and CTC. PyTorch 1.13 semantics.
#pragma once
#include "cpu/loss.h"
#include "engine/tensor.h"
#include "ops/registry.h"

namespace hm {

enum class LossReduction { none, mean, sum };

// torch.nn.functional.cross_entropy(logits, target, weight, ignore_index, reduction):
//   logits (N, C) float, target (N,) i64/i32 with values in [0, C) or == ignore_index, weight (C,) or undefined;
//   target and weight on the logits' device (CPU or CUDA).
//   loss_i = -weight[t_i] * log_softmax(logits_i)[t_i] (0 for ignored rows)
//   none -> (N,); sum -> sum_i loss_i; mean -> sum_i loss_i / sum_{i not ignored} weight[t_i] (NaN if all ignored).
// Gradient for logits only; class weights take no gradient (as in torch).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight = Tensor(),
                     int64_t ignore_index = -100, LossReduction reduction = LossReduction::mean);

// torch.nn.functional.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity):
//   log_probs (T, B, C) log-softmaxed; targets (B, S) padded or 1-D concatenation of the B label sequences
//   (i64/i32, labels in [0, C)); input_lengths, target_lengths (B,) i64/i32 with input_lengths <= T.
//   none -> (B,) per-element -log p(target | input); sum -> their sum; mean -> mean_b(loss_b / max(tl_b, 1)).
//   Infeasible elements give +inf, or 0 (with a zero gradient) when zero_infinity. NaN in the used frames of
//   log_probs throws. The gradient is torch's: exp(log_probs) - posterior, i.e. the gradient w.r.t. the logits
//   under the log_softmax that produced log_probs (log_softmax's backward passes it through unchanged).
//   On CUDA the index tensors (targets, lengths) may be on the GPU or on the CPU (they are read on the host, as
//   torch allows); loss and gradient are computed on the GPU.
Tensor ctc_loss(const Tensor& log_probs, const Tensor& targets, const Tensor& input_lengths,
                const Tensor& target_lengths, int64_t blank = 0, LossReduction reduction = LossReduction::mean,
                bool zero_infinity = false);

// Kernel tables of the cross-entropy kernels (variants "scalar", "highway"): "cross_entropy_forward_f32", ...
template <class T>
KernelTable<cpu::CrossEntropyForwardFn<T>>& cross_entropy_forward_table();
template <class T>
KernelTable<cpu::CrossEntropyBackwardFn<T>>& cross_entropy_backward_table();
// Their CUDA twins "cross_entropy_forward_f32@cuda", ... (variant "cuda_rowwise"): the same contracts on device
// pointers (targets int64 on the device), all rows in one call. Empty in a CPU-only build.
template <class T>
KernelTable<cpu::CrossEntropyForwardFn<T>>& cross_entropy_forward_cuda_table();
template <class T>
KernelTable<cpu::CrossEntropyBackwardFn<T>>& cross_entropy_backward_cuda_table();

// CTC kernels (cpu::ctc_first_nan / ctc_loss_forward / ctc_loss_backward contracts). Tables "ctc_loss_f32" /
// "ctc_loss_f64" ("scalar": the cpu/ functions) and "ctc_loss_f32@cuda" / "ctc_loss_f64@cuda" ("cuda_blockwise";
// every pointer, the int64 index arrays included, on the device).
template <class T>
struct CtcLossFns {
  int64_t (*first_nan)(const T* log_probs, const int64_t* input_lengths, int64_t max_time, int64_t B, int64_t C);
  void (*forward)(const T* log_probs, const int64_t* targets, const int64_t* target_offsets,
                  const int64_t* input_lengths, const int64_t* target_lengths, int64_t max_time, int64_t B, int64_t C,
                  int64_t max_target, int64_t blank, T* nll, T* log_alpha);
  void (*backward)(const T* log_probs, const int64_t* targets, const int64_t* target_offsets,
                   const int64_t* input_lengths, const int64_t* target_lengths, int64_t max_time, int64_t B, int64_t C,
                   int64_t max_target, int64_t blank, const T* nll, const T* log_alpha, const T* grad_scale,
                   bool zero_infinity, T* grad);
};
template <class T>
KernelTable<CtcLossFns<T>>& ctc_loss_table();
template <class T>
KernelTable<CtcLossFns<T>>& ctc_loss_cuda_table();

}  // namespace hm
