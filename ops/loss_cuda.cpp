// CUDA variants of the loss kernel tables (DESIGN.md 3): registration only, compiled with -DHUBMAMBA_CUDA=ON. The
// kernels are in cuda/loss.cu (cross-entropy) and cuda/ctc.cu; ops/loss.cpp picks the table of the input's device.
#include "cuda/ctc.h"
#include "cuda/loss.h"
#include "ops/loss.h"

namespace hm {
namespace {

template <class T>
bool register_loss_cuda_kernels() {
  cross_entropy_forward_cuda_table<T>().add("cuda_rowwise", cuda::cross_entropy_forward<T>, 10);
  cross_entropy_backward_cuda_table<T>().add("cuda_rowwise", cuda::cross_entropy_backward<T>, 10);
  ctc_loss_cuda_table<T>().add("cuda_blockwise",
                               {cuda::ctc_first_nan<T>, cuda::ctc_loss_forward<T>, cuda::ctc_loss_backward<T>}, 10);
  return true;
}

const bool kRegistered = register_loss_cuda_kernels<float>() && register_loss_cuda_kernels<double>();

}  // namespace
}  // namespace hm
