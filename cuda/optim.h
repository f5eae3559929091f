// Optimiser kernels (ops/optimizer.h): fused Adam/AdamW update and per-array sums of squares for the global
// gradient norm.
#pragma once
#include <cstdint>

namespace hm::cuda {

// Adam(W) constants of one step; bc1/bc2 are the bias corrections 1 - beta^t.
struct AdamArgs {
  double lr, beta1, beta2, eps, weight_decay, bc1, bc2;
  bool decoupled;
};
void adam_update_f32(float* w, const float* g, float* m, float* v, int64_t n, const AdamArgs& a);
void adam_update_f64(double* w, const double* g, double* m, double* v, int64_t n, const AdamArgs& a);
// out[i] = sum_k arrays[i][k]^2 in double; one block per array, fixed-order tree reduction (deterministic).
// `arrays`, `sizes` and `out` are device memory.
void sum_squares_f32(const float* const* arrays, const int64_t* sizes, int64_t n, double* out);
void sum_squares_f64(const double* const* arrays, const int64_t* sizes, int64_t n, double* out);

}  // namespace hm::cuda
