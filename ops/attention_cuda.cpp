// The `attention@cuda` variants (DESIGN.md 3; compiled only with -DHUBMAMBA_CUDA=ON): cuda_reference, the
// straightforward full-matrix kernels; cuda_flash, the tiled FlashAttention-2 style FMA kernels (head dims up to 128,
// cuda_reference above); cuda_flash_tc (default), cuda_flash with bf16 forward and backward on tensor cores (WMMA).
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
// The default: differs from cuda_flash only for bf16. Checked on the CPU emulation (tools/cuda_emu), not yet on a
// GPU; if the H100 conformance run fails it, a priority below 10 makes cuda_flash the default again.
const bool kRegFlashTc =
    (attention_cuda_table().add(
         "cuda_flash_tc",
         {cuda::flash::attention_forward<float, float>, cuda::flash::attention_forward<double, double>,
          cuda::flash_tc::attention_forward_bf16, cuda::flash::attention_backward<float, float>,
          cuda::flash::attention_backward<double, double>, cuda::flash_tc::attention_backward_bf16,
          cuda::flash::kMaxHeadDim},
         20),
     true);

}  // namespace
}  // namespace hm
