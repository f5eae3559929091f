// The `attention@cuda` variants (DESIGN.md 3; compiled only with -DHUBMAMBA_CUDA=ON): cuda_reference, the
// straightforward full-matrix kernels, and cuda_flash, the tiled FlashAttention-2 style kernels (default; head dims up
// to 128, cuda_reference above). Kernels in cuda/attention_reference.cu and cuda/attention_flash.cu.
#include "cuda/attention.h"
#include "ops/attention.h"

namespace hm {
namespace {

const bool kRegReference = (attention_cuda_table().add(
                                "cuda_reference",
                                {cuda::reference::attention_forward<float, float>,
                                 cuda::reference::attention_forward<double, double>,
                                 cuda::reference::attention_forward<cuda::bf16_bits, float>,
                                 cuda::reference::attention_backward<float, float>,
                                 cuda::reference::attention_backward<double, double>,
                                 cuda::reference::attention_backward<cuda::bf16_bits, float>, 0},
                                0),
                            true);
const bool kRegFlash = (attention_cuda_table().add(
                            "cuda_flash",
                            {cuda::flash::attention_forward<float, float>, cuda::flash::attention_forward<double, double>,
                             cuda::flash::attention_forward<cuda::bf16_bits, float>,
                             cuda::flash::attention_backward<float, float>,
                             cuda::flash::attention_backward<double, double>,
                             cuda::flash::attention_backward<cuda::bf16_bits, float>, cuda::flash::kMaxHeadDim},
                            10),
                        true);

}  // namespace
}  // namespace hm
