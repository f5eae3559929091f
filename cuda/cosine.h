// Cosine-similarity kernels on device pointers: the CUDA twins of cpu/cosine.h, with the same signatures, formulas
// and PyTorch 1.13 semantics (each norm clamped separately, y = <a, b> / (max(|a|, eps) * max(|b|, eps)), the
// gradient taken through the clamped norm as if it were |x|). Templates over T = float / double, instantiated in
// cuda/cosine.cu. Every kernel sums in a fixed order (no atomics): results are reproducible run to run.
#pragma once
#include <cstdint>

namespace hm::cuda {

// norm (R) = max(|A[r]|, eps) for A (R, D). One warp per row.
template <class T>
void cosine_row_norms(const T* A, int64_t R, int64_t D, T eps, T* norm);

// y[o] = <A[ia[o]], B[ib[o]]> / (norm_a[ia[o]] * norm_b[ib[o]]); ia / ib / y (O). One warp per output.
template <class T>
void cosine_forward(const T* A, const T* norm_a, const T* B, const T* norm_b, const int64_t* ia, const int64_t* ib,
                    int64_t O, int64_t D, T* y);

// dA[r] = sum_{o: ia[o] = r} dy[o] (B[ib[o]] / (na nb) - y[o] A[r] / na^2), and symmetrically dB (either may be
// null). The outputs are grouped by row with a counting sort on the host (ia / ib are copied back: this
// synchronises), then one thread per gradient element sums its row's outputs in ascending o, as the CPU does.
template <class T>
void cosine_backward(const T* dy, const T* y, const T* A, const T* norm_a, const T* B, const T* norm_b,
                     const int64_t* ia, const int64_t* ib, int64_t O, int64_t Ra, int64_t Rb, int64_t D, T* dA, T* dB);

// Outer-product layout, y (Ra, Rb) = (A / na) (B / nb)^T: the rows are normalised into scratch buffers, then one
// cuBLAS GEMM (cuda/blas.h; TF32 only when allowed).
template <class T>
void cosine_forward_outer(const T* A, const T* norm_a, const T* B, const T* norm_b, int64_t Ra, int64_t Rb, int64_t D,
                          T* y);

// With S = dy / (na nb^T) (Ra, Rb):  dA = S B - (rowsum(dy * y) / na^2) A,  dB = S^T A - (colsum(dy * y) / nb^2) B,
// the diagonal term written first and a beta = 1 GEMM adding S B (S^T A). dA / dB may be null.
template <class T>
void cosine_backward_outer(const T* dy, const T* y, const T* A, const T* norm_a, const T* B, const T* norm_b,
                           int64_t Ra, int64_t Rb, int64_t D, T* dA, T* dB);

}  // namespace hm::cuda
