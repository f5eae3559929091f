// The CUDA cosine-similarity kernels (compiled only with -DHUBMAMBA_CUDA=ON): one variant, cuda_rows
// (cuda/cosine.h), deterministic (no atomics).
#include "cuda/cosine.h"
#include "ops/similarity.h"

namespace hm {
namespace {

template <class T>
constexpr CosineFns<T> fns() {
  return {cuda::cosine_row_norms<T>, cuda::cosine_forward<T>, cuda::cosine_backward<T>, cuda::cosine_forward_outer<T>,
          cuda::cosine_backward_outer<T>};
}

const bool kRegRows = (cosine_cuda_table().add("cuda_rows", {fns<float>(), fns<double>()}, 10), true);

}  // namespace
}  // namespace hm
