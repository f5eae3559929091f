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

// CUDA table "glu_forward_f32@cuda" / "..._f64@cuda" (variant "cuda_simple", filled by ops/glu_cuda.cpp in CUDA
// builds): forward and backward over all P spans of x viewed as (P, 2n) in one launch, device pointers.
template <class T>
struct GluCudaFns {
  void (*forward)(const T* x, T* y, int64_t P, int64_t n);                 // x: (P, 2n), y: (P, n)
  void (*backward)(const T* dy, const T* x, T* dx, int64_t P, int64_t n);  // dy: (P, n), x, dx: (P, 2n)
};
template <class T>
KernelTable<GluCudaFns<T>>& glu_cuda_table();

}  // namespace hm
