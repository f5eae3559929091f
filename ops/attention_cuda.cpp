// The `attention@cuda` variants (DESIGN.md 3; compiled only with -DHUBMAMBA_CUDA=ON): cuda_reference, the
// straightforward full-matrix kernels; cuda_flash, the tiled FlashAttention-2 style FMA kernels (default; head dims
// up to 128, cuda_reference above); cuda_flash_tc, cuda_flash with bf16 forward and backward on tensor cores (WMMA).
// Kernels in cuda/attention_reference.cu, cuda/attention_flash.cu, cuda/attention_flash_tc.cu.
#include "cuda/attention.h"
#include "ops/attention.h"

namespace hm {
namespace {

const bool kRegReference =
    (attention_cuda_table().add(
         "cuda_reference",
         {cuda::reference::attention_forward<float, float>, cuda::reference::attention_forward<double, double>,
          cuda::reference::attention_forward<cuda::bf16_bits, float>, cuda::reference::attention_backward<float, float>,
          cuda::reference::attention_backward<double, double>,
          cuda::reference::attention_backward<cuda::bf16_bits, float>, 0},
         0),
     true);
const bool kRegFlash =
    (attention_cuda_table().add(
         "cuda_flash",
         {cuda::flash::attention_forward<float, float>, cuda::flash::attention_forward<double, double>,
          cuda::flash::attention_forward<cuda::bf16_bits, float>, cuda::flash::attention_backward<float, float>,
          cuda::flash::attention_backward<double, double>, cuda::flash::attention_backward<cuda::bf16_bits, float>,
          cuda::flash::kMaxHeadDim},
         10),
     true);
// Below cuda_flash until the H100 conformance run has passed it: select it with --kernel attention=cuda_flash_tc.
const bool kRegFlashTc =
    (attention_cuda_table().add(
         "cuda_flash_tc",
         {cuda::flash::attention_forward<float, float>, cuda::flash::attention_forward<double, double>,
          cuda::flash_tc::attention_forward_bf16, cuda::flash::attention_backward<float, float>,
          cuda::flash::attention_backward<double, double>, cuda::flash_tc::attention_backward_bf16,
          cuda::flash::kMaxHeadDim},
         5),
     true);

}  // namespace
}  // namespace hm
