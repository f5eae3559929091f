// CUDA variants of the elementwise / activation / reduction / softmax kernel tables (ops/elementwise_tables.h).
// Compiled only with -DHUBMAMBA_CUDA=ON. "cuda_simple" is the one-element-per-thread reference; "cuda_vec" moves
// 16-byte packs where every pointer is aligned (and falls back to the simple kernels elsewhere).
#include "cuda/elementwise.h"
#include "cuda/reduce.h"
#include "cuda/softmax.h"
#include "ops/elementwise_tables.h"

namespace hm {
namespace {

template <class T>
bool register_variants() {
  binary_cuda_table<T>().add("cuda_simple",
                             {&cuda::binary_simple<T>, &cuda::binary_scalar_simple<T>, &cuda::binary_row<T>,
                              &cuda::binary_col<T>, &cuda::binary_broadcast<T>, &cuda::where<T>},
                             10);
  binary_cuda_table<T>().add("cuda_vec",
                             {&cuda::binary_vec<T>, &cuda::binary_scalar_vec<T>, &cuda::binary_row<T>,
                              &cuda::binary_col<T>, &cuda::binary_broadcast<T>, &cuda::where<T>},
                             20);
  unary_cuda_table<T>().add("cuda_simple", {&cuda::unary_simple<T>, &cuda::unary_backward_simple<T>}, 10);
  unary_cuda_table<T>().add("cuda_vec", {&cuda::unary_vec<T>, &cuda::unary_backward_simple<T>}, 20);
  reduce_cuda_table<T>().add("cuda_tree", {&cuda::reduce_rows<T>, &cuda::reduce_cols<T>, &cuda::max_backward_rows<T>},
                             10);
  softmax_cuda_table<T>().add("cuda_rows", {&cuda::softmax<T>, &cuda::softmax_backward<T>}, 10);
  return true;
}

const bool kRegistered = register_variants<float>() && register_variants<double>();

}  // namespace
}  // namespace hm
