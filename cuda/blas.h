// cuBLAS / cuBLASLt glue (DESIGN.md 4: cuBLAS(Lt) GEMM, TF32 opt-in, bf16 with f32 accumulate). Host launchers
// on raw device pointers, everything on hm::cuda::stream(). The contract is the CPU one (cpu/gemm.h), row-major:
//
//   for i in [0, batch):  C_i (M, N) = alpha * op(A_i) (M, K) @ op(B_i) (K, N) + beta * C_i
//   A_i = A + i * stride_a (elements), B_i = B + i * stride_b, C_i = C + i * stride_c
//
// op(A) = A stored (M, K) with row stride lda when trans_a is false, A stored (K, M) when trans_a is true (same
// for B). A stride of 0 broadcasts that operand over the batch; the C matrices must not overlap (stride_c >= M*ldc
// when batch > 1). beta == 0 makes C write-only (NaN in C is never read), as in BLAS, K == 0 included.
//
// Row-major <-> column-major: a row-major (R, C) matrix with row stride ld is the column-major (C, R) matrix with
// leading dimension ld, so C^T = op(B)^T op(A)^T is one column-major call with the operands swapped and the
// transpose flags passed through; nothing is copied.
//
// bf16 buffers are passed as uint16_t (the bit pattern of __nv_bfloat16) so this header stays plain C++.
#pragma once
#include <cstdint>

namespace hm::cuda {

// TF32 tensor-core math for f32 GEMMs (CUBLAS_COMPUTE_32F_FAST_TF32). OFF by default, so an f32 GEMM matches the
// CPU to f32 rounding; HUBMAMBA_TF32=1 in the environment turns it on at first use, set_allow_tf32 at any time.
void set_allow_tf32(bool allow);
bool allow_tf32();

// cublasGemmStridedBatchedEx (cublasGemmEx when batch == 1). f32: CUBLAS_COMPUTE_32F (or _FAST_TF32), f64:
// CUBLAS_COMPUTE_64F, bf16 in/out: CUBLAS_COMPUTE_32F (f32 accumulate, alpha/beta in f32).
void cublas_gemm_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                     int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta, float* C,
                     int64_t ldc, int64_t stride_c, int64_t batch);
void cublas_gemm_f64(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                     int64_t lda, int64_t stride_a, const double* B, int64_t ldb, int64_t stride_b, double beta,
                     double* C, int64_t ldc, int64_t stride_c, int64_t batch);
void cublas_gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A,
                      int64_t lda, int64_t stride_a, const uint16_t* B, int64_t ldb, int64_t stride_b, float beta,
                      uint16_t* C, int64_t ldc, int64_t stride_c, int64_t batch);

// cublasLtMatmul with strided-batch layouts, the algorithm taken from cublasLtMatmulAlgoGetHeuristic once per
// (dtype, shape, strides, pointer alignment) and cached. Same contract and compute types as above. A layout for
// which cuBLASLt has no algorithm (the heuristic returns none) runs through cublas_gemm_* instead, as in PyTorch.
void cublaslt_gemm_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                       int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                       float* C, int64_t ldc, int64_t stride_c, int64_t batch);
void cublaslt_gemm_f64(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                       int64_t lda, int64_t stride_a, const double* B, int64_t ldb, int64_t stride_b, double beta,
                       double* C, int64_t ldc, int64_t stride_c, int64_t batch);
void cublaslt_gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A,
                        int64_t lda, int64_t stride_a, const uint16_t* B, int64_t ldb, int64_t stride_b, float beta,
                        uint16_t* C, int64_t ldc, int64_t stride_c, int64_t batch);

// out (R, N) row r = bias (N,) for every r: linear's bias, written before a beta = 1 GEMM adds x W^T to it.
void broadcast_rows_f32(const float* bias, int64_t R, int64_t N, float* out);
void broadcast_rows_f64(const double* bias, int64_t R, int64_t N, double* out);
void broadcast_rows_bf16(const uint16_t* bias, int64_t R, int64_t N, uint16_t* out);

// out (N,) = sum over the R rows of X (R, N), row stride ldx (linear's bias gradient). Fixed summation order
// (deterministic), accumulated in f32 for bf16 and f32, f64 for f64.
void column_sum_f32(const float* X, int64_t R, int64_t N, int64_t ldx, float* out);
void column_sum_f64(const double* X, int64_t R, int64_t N, int64_t ldx, double* out);
void column_sum_bf16(const uint16_t* X, int64_t R, int64_t N, int64_t ldx, uint16_t* out);

}  // namespace hm::cuda
