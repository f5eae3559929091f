// Optimiser arithmetic as ops (no autograd): the fused Adam/AdamW update and the global gradient norm, with one
// kernel table per device so that train/optim.cpp never touches device memory itself.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "ops/registry.h"

namespace hm {

// One Adam(W) step's constants (Kingma & Ba 2015, Algorithm 1; decoupled decay of Loshchilov & Hutter 2019).
struct AdamHyper {
  double lr = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  double bias_correction1 = 1, bias_correction2 = 1;  // 1 - beta^t
  bool decoupled = true;
};

// Per element: g' = g (+ wd*w unless decoupled); m = b1*m + (1-b1)*g'; v = b2*v + (1-b2)*g'^2;
// w -= lr*wd*w (decoupled); w -= lr * (m/bc1) / (sqrt(v/bc2) + eps). Arithmetic in double, stored in T.
struct AdamKernels {
  void (*f32)(float* w, const float* g, float* m, float* v, int64_t n, const AdamHyper& h);
  void (*f64)(double* w, const double* g, double* m, double* v, int64_t n, const AdamHyper& h);
};
KernelTable<AdamKernels>& adam_update_table();       // CPU: "scalar"
KernelTable<AdamKernels>& adam_update_cuda_table();  // CUDA: "cuda_fused"

// Sum of squares of each of `n` arrays (f32 or f64 by the table entry), written to out[i] in double.
struct SumSquaresKernels {
  void (*f32)(const float* const* arrays, const int64_t* sizes, int64_t n, double* out);
  void (*f64)(const double* const* arrays, const int64_t* sizes, int64_t n, double* out);
};
KernelTable<SumSquaresKernels>& sum_squares_cuda_table();  // CUDA: "cuda_blockwise" (deterministic)

// In place: w, m, v updated from g (all contiguous, same shape, dtype and device).
void adam_update(const Tensor& w, const Tensor& g, const Tensor& m, const Tensor& v, const AdamHyper& h);
// sqrt(sum of squares) over all tensors (any devices; undefined tensors skipped). Deterministic: the same
// value for the same gradients whatever the thread count. NaN/Inf propagate.
double global_norm(const std::vector<Tensor>& tensors);
// t *= s in place (any device).
void scale_inplace(const Tensor& t, double s);

}  // namespace hm
