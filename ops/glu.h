// Gated linear unit (torch.nn.functional.glu): the Conformer convolution module's pointwise conv -> GLU.
#pragma once
#include "cpu/glu.h"
#include "engine/tensor.h"
#include "ops/registry.h"

namespace hm {

// Splits x in two halves a, b along `dim` (its size must be even) and returns a * sigmoid(b).
Tensor glu(const Tensor& x, int64_t dim = -1);

// Kernel tables (variants "scalar", "highway"): "glu_forward_f32", "glu_forward_f64", "glu_backward_f32", ...
template <class T>
KernelTable<cpu::GluForwardFn<T>>& glu_forward_table();
template <class T>
KernelTable<cpu::GluBackwardFn<T>>& glu_backward_table();

}  // namespace hm
