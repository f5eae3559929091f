// CUDA variants of the conv family's kernel tables (compiled only in CUDA builds; DESIGN.md 3):
//   conv1d_dense@cuda, conv1d_depthwise@cuda, conv2d@cuda  cuda_direct (cuda/conv_direct.cu, the readable
//                                                          reference), cuda_cudnn (cuda/conv_cudnn.cu, default)
//   weight_norm@cuda                                       cuda_direct
// The direct variant handles any groups, so it serves the dense and the depthwise tables alike; cuDNN takes the
// group count on its convolution descriptor.
#include "cuda/conv_cudnn.h"
#include "cuda/conv_direct.h"
#include "ops/conv.h"

namespace hm {
namespace {

const ConvCudaFns kDirect{&cuda::conv_direct_forward, &cuda::conv_direct_backward_input,
                          &cuda::conv_direct_backward_weight, &cuda::conv_bias_grad};
const ConvCudaFns kCudnn{&cuda::conv_cudnn_forward, &cuda::conv_cudnn_backward_input, &cuda::conv_cudnn_backward_weight,
                         &cuda::conv_bias_grad};

const bool kRegistered = [] {
  for (KernelTable<ConvCudaFns>* t :
       {&conv1d_dense_cuda_table(), &conv1d_depthwise_cuda_table(), &conv2d_cuda_table()}) {
    t->add("cuda_direct", kDirect, 0);
    t->add("cuda_cudnn", kCudnn, 10);
  }
  weight_norm_cuda_table().add("cuda_direct", {&cuda::weight_norm_forward, &cuda::weight_norm_backward}, 0);
  return true;
}();

}  // namespace
}  // namespace hm
