// CUDA variants of the normalisation kernel tables (DESIGN.md 3): registration only, compiled with
// -DHUBMAMBA_CUDA=ON. The kernels are in cuda/norm.cu; ops/norm.cpp picks the table of the input's device.
#include "cuda/norm.h"
#include "ops/norm.h"

namespace hm {
namespace {

template <class T>
bool register_norm_cuda_kernels() {
  // Layer norm: a warp per row is the default (HuBERT's rows are 768 wide: 24 elements per lane); a block per row
  // is the simple reference and the better choice for very wide rows.
  layer_norm_forward_cuda_table<T>().add("cuda_rowwise", cuda::layer_norm_forward_rowwise<T>, 10);
  layer_norm_forward_cuda_table<T>().add("cuda_warp", cuda::layer_norm_forward_warp<T>, 20);
  layer_norm_backward_cuda_table<T>().add("cuda_rowwise", cuda::layer_norm_backward_rowwise<T>, 10);
  layer_norm_backward_cuda_table<T>().add("cuda_warp", cuda::layer_norm_backward_warp<T>, 20);
  group_norm_cuda_table<T>().add("cuda_blockwise", {cuda::group_norm_forward<T>, cuda::group_norm_backward<T>}, 10);
  batch_norm_cuda_table<T>().add("cuda_channel",
                                 {cuda::batch_norm_stats<T>, cuda::batch_norm_update_running<T>,
                                  cuda::batch_norm_rstd<T>, cuda::batch_norm_apply<T>, cuda::batch_norm_backward<T>},
                                 10);
  return true;
}

const bool kRegistered = register_norm_cuda_kernels<float>() && register_norm_cuda_kernels<double>();

}  // namespace
}  // namespace hm
