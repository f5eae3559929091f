// CUDA variants of the selective scan (cuda/selective_scan.h), registered in the `selective_scan@cuda` kernel
// table. Compiled only in CUDA builds; ops/selective_scan.cpp dispatches CUDA tensors to the table.
#include "cuda/selective_scan.h"
#include "ops/selective_scan.h"

namespace hm {
namespace {

using cuda::bfloat16_t;

const ScanCudaKernels kSequential{
    &cuda::scan_sequential_checkpoint_elems,
    &cuda::scan_sequential_forward<float, float>,
    &cuda::scan_sequential_backward<float, float>,
    &cuda::scan_sequential_forward<double, double>,
    &cuda::scan_sequential_backward<double, double>,
    &cuda::scan_sequential_forward<bfloat16_t, float>,
    &cuda::scan_sequential_backward<bfloat16_t, float>,
};
const ScanCudaKernels kChunked{
    &cuda::scan_chunked_checkpoint_elems,
    &cuda::scan_chunked_forward<float, float>,
    &cuda::scan_chunked_backward<float, float>,
    &cuda::scan_chunked_forward<double, double>,
    &cuda::scan_chunked_backward<double, double>,
    &cuda::scan_chunked_forward<bfloat16_t, float>,
    &cuda::scan_chunked_backward<bfloat16_t, float>,
};
// cuda_chunked is the default; cuda_sequential is the readable reference (and the slow one).
const bool kRegSequential = (selective_scan_cuda_table().add("cuda_sequential", kSequential, 0), true);
const bool kRegChunked = (selective_scan_cuda_table().add("cuda_chunked", kChunked, 10), true);

}  // namespace
}  // namespace hm
