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

}  // namespace hm
