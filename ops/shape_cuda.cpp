// The CUDA index kernels (compiled only with -DHUBMAMBA_CUDA=ON). index_add: cuda_atomic is the default (fast;
// with repeated indices the f32 summation order varies between runs, as in PyTorch's CUDA index_add_);
// --kernel index_add=cuda_ordered gives bit-reproducible gradients equal to the CPU's (cuda/index.h).
#include "cuda/index.h"
#include "ops/shape.h"

namespace hm {
namespace {

const bool kRegIndex =
    (index_cuda_table().add("cuda_simple", {cuda::first_out_of_range, cuda::index_select_rows, cuda::gather_dim}, 10),
     true);

const bool kRegAtomic =
    (index_add_cuda_table().add("cuda_atomic",
                                {{cuda::index_add_rows_atomic_f32, cuda::scatter_add_dim_atomic_f32},
                                 {cuda::index_add_rows_atomic_f64, cuda::scatter_add_dim_atomic_f64}},
                                10),
     true);
const bool kRegOrdered =
    (index_add_cuda_table().add("cuda_ordered",
                                {{cuda::index_add_rows_ordered_f32, cuda::scatter_add_dim_ordered_f32},
                                 {cuda::index_add_rows_ordered_f64, cuda::scatter_add_dim_ordered_f64}},
                                5),
     true);

}  // namespace
}  // namespace hm
