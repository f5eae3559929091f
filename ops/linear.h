// Matrix products: matmul (torch.matmul semantics), bmm, linear (torch.nn.functional.linear). CPU tensors run on
// the `gemm` kernel table (variants "scalar" and "openblas"), CUDA tensors on `gemm@cuda` (cuBLAS / cuBLASLt,
// f32, f64 and bf16; inside an AutocastGuard f32 CUDA inputs run in bf16 and the result is cast back to f32);
// transposed operands are passed to BLAS as transpose flags, never copied, and every backward is GEMMs with
// transposes (DESIGN.md 3, 4).
#pragma once
#include "cpu/gemm.h"
#include "engine/tensor.h"
#include "ops/registry.h"

namespace hm {

// The GEMM variants (f32 and f64 in one entry). `--kernel gemm=scalar` selects the reference.
KernelTable<cpu::GemmKernels>& gemm_table();

// ---- CUDA (cuda/blas.h; variants registered in ops/linear_cuda.cpp, the table is empty without CUDA) ----------
// Row-major strided-batched GEMM on device pointers, the cpu::GemmFn contract plus per-operand batch strides:
//   C_i (M, N) = alpha op(A_i) @ op(B_i) + beta C_i,  X_i = X + i * stride_x,  i in [0, batch).
// bf16 buffers are uint16_t bit patterns with f32 alpha / beta (f32 accumulation).
template <class T, class S = T>
using GemmCudaFn = void (*)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, S alpha, const T* A,
                            int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, S beta, T* C,
                            int64_t ldc, int64_t stride_c, int64_t batch);
template <class T>
using BroadcastRowsCudaFn = void (*)(const T* bias, int64_t R, int64_t N, T* out);  // out (R, N) rows = bias (N,)
template <class T>
using ColumnSumCudaFn = void (*)(const T* X, int64_t R, int64_t N, int64_t ldx, T* out);  // out (N,) = sum_r X[r]

// One entry of the `gemm@cuda` table (variants cuda_cublas, cuda_cublaslt): the three GEMM dtypes and the two
// small kernels linear runs around its GEMM (bias broadcast before a beta = 1 GEMM, bias gradient).
struct GemmCudaKernels {
  GemmCudaFn<float> f32;
  GemmCudaFn<double> f64;
  GemmCudaFn<uint16_t, float> bf16;
  BroadcastRowsCudaFn<float> broadcast_rows_f32;
  BroadcastRowsCudaFn<double> broadcast_rows_f64;
  BroadcastRowsCudaFn<uint16_t> broadcast_rows_bf16;
  ColumnSumCudaFn<float> column_sum_f32;
  ColumnSumCudaFn<double> column_sum_f64;
  ColumnSumCudaFn<uint16_t> column_sum_bf16;
};
KernelTable<GemmCudaKernels>& gemm_cuda_table();

// torch.matmul: 1-D @ 1-D -> () dot product; 2-D @ 2-D -> (M, N); 1-D operands get a unit dim prepended (left)
// or appended (right) that is removed from the result; N-D @ N-D multiplies the last two dims and broadcasts
// the leading (batch) dims. (..., M, K) @ (K, N) is one GEMM over the flattened rows when the layout allows.
Tensor matmul(const Tensor& a, const Tensor& b);

// torch.bmm: (B, M, K) @ (B, K, N) -> (B, M, N), no broadcasting.
Tensor bmm(const Tensor& a, const Tensor& b);

// torch.nn.functional.linear: x (..., in), weight (out, in), optional bias (out,) -> (..., out) = x W^T + b,
// computed as one GEMM over the flattened leading dims of x (no copy when x is contiguous).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace hm
