// Normalisation ops (DESIGN.md 3, ops/norm.cpp): layer norm, group norm, batch norm. Each is one fused op with a
// hand-written backward for x, weight and bias; f32 and f64. Semantics follow torch.nn.functional.
#pragma once
#include "cpu/norm.h"
#include "engine/tensor.h"
#include "ops/registry.h"

namespace hm {

// LayerNorm over the last dim: x (..., C), weight / bias (C,) or undefined (no affine).
Tensor layer_norm(const Tensor& x, const Tensor& weight = Tensor(), const Tensor& bias = Tensor(), double eps = 1e-5);

// GroupNorm: x (B, C, *) with C divisible by num_groups; weight / bias (C,) or undefined.
Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                  double eps = 1e-5);

// BatchNorm1d: x (B, C) or (B, C, L); weight / bias (C,) or undefined.
//  training: normalise with the batch statistics and, when running_mean / running_var are given, update them in
//            place: running = (1 - momentum) * running + momentum * batch stat, running_var with the unbiased
//            variance (as torch). Needs more than one value per channel.
//  eval:     normalise with running_mean / running_var (required).
// padding_mask (B, L) u8, 1 = padded frame (x must be 3-D): padded frames are excluded from the batch statistics and
// from the running-stat update; they are still normalised (with the statistics of the valid frames).
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5,
                  const Tensor& padding_mask = Tensor());

// Kernel tables of the layer-norm kernels (variants "scalar", "highway"); named "layer_norm_forward_f32", ...
template <class T>
KernelTable<cpu::LayerNormForwardFn<T>>& layer_norm_forward_table();
template <class T>
KernelTable<cpu::LayerNormBackwardFn<T>>& layer_norm_backward_table();
// Their CUDA twins "layer_norm_forward_f32@cuda", ... (variants "cuda_rowwise", "cuda_warp"): the same contracts on
// device pointers, each kernel processing all rows in one call. Empty in a CPU-only build.
template <class T>
KernelTable<cpu::LayerNormForwardFn<T>>& layer_norm_forward_cuda_table();
template <class T>
KernelTable<cpu::LayerNormBackwardFn<T>>& layer_norm_backward_cuda_table();

// Group-norm kernels (cpu::group_norm_forward / group_norm_backward contracts). Tables "group_norm_f32" /
// "group_norm_f64" ("scalar": the cpu/ functions) and "group_norm_f32@cuda" / "group_norm_f64@cuda"
// ("cuda_blockwise", device pointers).
template <class T>
struct GroupNormFns {
  void (*forward)(const T* x, const T* weight, const T* bias, T eps, int64_t B, int64_t C, int64_t L, int64_t G, T* y,
                  T* mean, T* rstd);
  void (*backward)(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd, int64_t B, int64_t C,
                   int64_t L, int64_t G, T* dx, T* dweight, T* dbias);
};
template <class T>
KernelTable<GroupNormFns<T>>& group_norm_table();
template <class T>
KernelTable<GroupNormFns<T>>& group_norm_cuda_table();

// Batch-norm kernels (cpu::batch_norm_* contracts). Tables "batch_norm_f32" / "batch_norm_f64" ("scalar") and
// "batch_norm_f32@cuda" / "batch_norm_f64@cuda" ("cuda_channel").
template <class T>
struct BatchNormFns {
  int64_t (*stats)(const T* x, const uint8_t* pad_mask, int64_t B, int64_t C, int64_t L, T* mean, T* var);
  void (*update_running)(const T* mean, const T* var, int64_t n, T momentum, int64_t C, T* running_mean,
                         T* running_var);
  void (*rstd)(const T* var, T eps, int64_t C, T* rstd);
  void (*apply)(const T* x, const T* mean, const T* rstd, const T* weight, const T* bias, int64_t B, int64_t C,
                int64_t L, T* y);
  void (*backward)(const T* dy, const T* x, const uint8_t* pad_mask, const T* weight, const T* mean, const T* rstd,
                   bool training, int64_t n_valid, int64_t B, int64_t C, int64_t L, T* dx, T* dweight, T* dbias);
};
template <class T>
KernelTable<BatchNormFns<T>>& batch_norm_table();
template <class T>
KernelTable<BatchNormFns<T>>& batch_norm_cuda_table();

}  // namespace hm
