// Activations with autograd (float32 / float64), each one kernel call forward and one fused backward kernel
// (cpu/elementwise.h UnaryOp; formulas in cpu/elementwise_scalar.cpp):
//   tanh, sigmoid, relu, gelu (exact erf form, torch's approximate='none'), silu (x * sigmoid(x)),
//   softplus (beta 1, threshold 20: x where x > 20, log1p(exp(x)) elsewhere, as torch.nn.functional.softplus).
#pragma once
#include "engine/tensor.h"

namespace hm {

Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x);
Tensor silu(const Tensor& x);
Tensor softplus(const Tensor& x);

}  // namespace hm
