// scale_grad: identity in the forward pass, gradient multiplied by `scale` in the backward pass. fairseq's
// GradMultiply, used for HuBERT's feature_grad_mult = 0.1 on the CNN output (SPEC.md 5.2).
#pragma once
#include "engine/tensor.h"

namespace hm {

Tensor scale_grad(const Tensor& x, double scale);

}  // namespace hm
