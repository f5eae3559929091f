// The CUDA cosine-similarity kernels (compiled only with -DHUBMAMBA_CUDA=ON): one variant, cuda_rows
// (cuda/cosine.h), deterministic (no atomics).
#include "cuda/cosine.h"
#include "ops/similarity.h"

namespace hm {
namespace {

template <class T>
constexpr CosineCudaFns<T> fns() {
  return {cuda::cosine_row_norms<T>,      cuda::cosine_forward_pairs<T>, cuda::cosine_backward_rows<T>,
          cuda::cosine_normalize_rows<T>, cuda::cosine_outer_scale<T>,   cuda::cosine_diagonal_term<T>};
}

const bool kRegRows = (cosine_cuda_table().add("cuda_rows", {fns<float>(), fns<double>()}, 10), true);

}  // namespace
}  // namespace hm
