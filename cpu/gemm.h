// GEMM kernels on raw pointers (DESIGN.md 4: OpenBLAS for GEMM on the CPU). Everything is row-major, as in
// cblas with CblasRowMajor:
//
//   C (M, N) = alpha * op(A) (M, K) @ op(B) (K, N) + beta * C
//
// op(A) = A stored (M, K) with row stride lda when trans_a is false, or A stored (K, M) with row stride lda when
// trans_a is true (same for B). A transposed operand is therefore never copied: the caller passes the layout it
// has. When beta == 0, C is write-only (its old contents, NaN included, are never read), as in BLAS.
//
// The variants ("scalar" reference, "openblas") live in the kernel table `gemm` (ops/linear.cpp); the helpers
// below (batched loop, column sum) take the chosen variant's function pointer.
#pragma once
#include <cstdint>

namespace hm::cpu {

template <class T>
using GemmFn = void (*)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                        const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// One table entry serves both compute dtypes (f32 training, f64 gradient checks).
struct GemmKernels {
  GemmFn<float> f32;
  GemmFn<double> f64;
};

template <class T>
GemmFn<T> gemm_for(const GemmKernels& k) {
  if constexpr (sizeof(T) == sizeof(float)) {
    return k.f32;
  } else {
    return k.f64;
  }
}

namespace scalar {
// Reference: the defining triple loop, accumulated in double. Slow on purpose; the conformance baseline.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc);
}  // namespace scalar

namespace openblas {
// cblas_sgemm / cblas_dgemm (OpenBLAS threads follow hm::cpu::set_num_threads).
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void dgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
           const double* B, int64_t ldb, double beta, double* C, int64_t ldc);
}  // namespace openblas

// Batched GEMM as a loop over the batch (OpenBLAS 0.3.21 has no batch interface): for i in [0, batch),
//   C[c_off[i]:] = alpha * op(A[a_off[i]:]) @ op(B[b_off[i]:]) + beta * C[c_off[i]:]
// in order of i. Offsets are in elements, so broadcast batch dims (equal offsets) and any batch strides work.
// When several i share one C offset, the products accumulate provided beta == 1 (the caller zeroes C first);
// this is how the gradient of a broadcast operand is summed without materialising the per-batch terms.
template <class T>
void gemm_batched(GemmFn<T> gemm, int64_t batch, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha,
                  const T* A, const int64_t* a_off, int64_t lda, const T* B, const int64_t* b_off, int64_t ldb, T beta,
                  T* C, const int64_t* c_off, int64_t ldc);

// out (N,) = sum over rows of X (R, N) with row stride ldx: the bias gradient of linear (sum of dY over rows).
template <class T>
void column_sum(const T* X, int64_t R, int64_t N, int64_t ldx, T* out);

}  // namespace hm::cpu
