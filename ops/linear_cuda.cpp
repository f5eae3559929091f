// The CUDA GEMM variants (compiled only with -DHUBMAMBA_CUDA=ON). cuda_cublas (cublasGemmEx /
// cublasGemmStridedBatchedEx) is the default: it is what PyTorch calls for these shapes, so the engine's GEMM is
// the library's best. cuda_cublaslt (cublasLtMatmul with the heuristic's first algorithm, cached per shape) is
// the alternative for --kernel gemm=cuda_cublaslt. Both share linear's bias kernels.
#include "cuda/blas.h"
#include "ops/linear.h"

namespace hm {
namespace {

constexpr GemmCudaKernels kernels(GemmCudaFn<float> f32, GemmCudaFn<double> f64, GemmCudaFn<uint16_t, float> bf16) {
  return {f32,
          f64,
          bf16,
          cuda::broadcast_rows_f32,
          cuda::broadcast_rows_f64,
          cuda::broadcast_rows_bf16,
          cuda::column_sum_f32,
          cuda::column_sum_f64,
          cuda::column_sum_bf16};
}

const bool kRegCublas =
    (gemm_cuda_table().add("cuda_cublas", kernels(cuda::cublas_gemm_f32, cuda::cublas_gemm_f64, cuda::cublas_gemm_bf16),
                           10),
     true);
const bool kRegCublasLt =
    (gemm_cuda_table().add("cuda_cublaslt",
                           kernels(cuda::cublaslt_gemm_f32, cuda::cublaslt_gemm_f64, cuda::cublaslt_gemm_bf16), 5),
     true);

}  // namespace
}  // namespace hm
