// CUDA variants of the optimiser tables (ops/optimizer.h); compiled only with the CUDA backend.
#include "cuda/optim.h"
#include "ops/optimizer.h"

namespace hm {
namespace {

cuda::AdamArgs args(const AdamHyper& h) {
  return {h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, h.bias_correction1, h.bias_correction2, h.decoupled};
}

const bool kRegAdam = (adam_update_cuda_table().add(
                           "cuda_fused",
                           AdamKernels{[](float* w, const float* g, float* m, float* v, int64_t n,
                                          const AdamHyper& h) { cuda::adam_update_f32(w, g, m, v, n, args(h)); },
                                       [](double* w, const double* g, double* m, double* v, int64_t n,
                                          const AdamHyper& h) { cuda::adam_update_f64(w, g, m, v, n, args(h)); }},
                           10),
                       true);
const bool kRegSumSquares =
    (sum_squares_cuda_table().add("cuda_blockwise", SumSquaresKernels{&cuda::sum_squares_f32, &cuda::sum_squares_f64},
                                  10),
     true);

}  // namespace
}  // namespace hm
