// bf16 autocast (mixed precision, issue 8): inside an AutocastGuard the ops that gain from a lower precision —
// matmul / bmm / linear, conv1d / conv2d, attention — cast their f32 CUDA inputs to bf16, compute with f32
// accumulation, and hand back f32. Everything else (norms, softmax, losses, the selective scan's state) stays f32,
// and parameters and optimiser moments stay f32 ("master weights"): the casts are ordinary differentiable ops, so
// gradients reach the f32 weights in f32. bf16 keeps f32's exponent range, so unlike f16 no loss scaling is needed.
// CPU tensors are never cast (the CPU kernels have no bf16 path).
#pragma once
#include "engine/tensor.h"

namespace hm {

bool autocast_enabled();
DType autocast_dtype();

class AutocastGuard {
 public:
  explicit AutocastGuard(bool enabled, DType dtype = DType::bf16);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool prev_enabled_;
  DType prev_dtype_;
};

// True when autocast is on and `x` is an f32 tensor on a CUDA device: the op should run in autocast_dtype().
inline bool autocast_applies(const Tensor& x) {
  return autocast_enabled() && x.defined() && x.is_cuda() && x.dtype() == DType::f32;
}

}  // namespace hm
