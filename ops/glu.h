// Gated linear unit (torch.nn.functional.glu): the Conformer convolution module's pointwise conv -> GLU.
#pragma once
#include "engine/tensor.h"

namespace hm {

// Splits x in two halves a, b along `dim` (its size must be even) and returns a * sigmoid(b).
Tensor glu(const Tensor& x, int64_t dim = -1);

}  // namespace hm
