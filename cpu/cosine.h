// Cosine similarity kernels: raw pointers + sizes, contiguous buffers (DESIGN.md 1).
#pragma once
#include <cstdint>

namespace hm::cpu {

// ---- cosine similarity between rows of A and rows of B, over pairs given by index lists ---------------------
// PyTorch 1.13 clamps each norm separately (measured with torch 1.13, fixture cosine_clamp: a = b = (1e-5, 0)
// gives 1, not the 0.01 of the docs formula max(|x1| * |x2|, eps)):
//   y[o] = <A[ia[o]], B[ib[o]]> / (max(|A[ia[o]]|, eps) * max(|B[ib[o]]|, eps)).
template <class T>
void row_norms(const T* A,  // (R, D)
               int64_t R, int64_t D, T eps,
               T* norm);  // (R): max(|A[r]|, eps)

template <class T>
void cosine_forward(const T* A, const T* norm_a,           // (Ra, D), (Ra)
                    const T* B, const T* norm_b,           // (Rb, D), (Rb)
                    const int64_t* ia, const int64_t* ib,  // (O), (O): row of A / of B for each output
                    int64_t O, int64_t D,
                    T* y);  // (O)

// PyTorch's gradient, which differentiates through the clamped norm as if it were |x| (the clamp runs under
// no_grad in 1.13): with na, nb the clamped norms,
//   dA[ia[o]] += dy[o] * (B[ib[o]] / (na * nb) - y[o] * A[ia[o]] / na^2)      (and symmetrically for B).
// Each gradient row is owned by one thread (rows are grouped through a counting sort of ia / ib), so the result is
// deterministic. dA / dB (written) may be null.
template <class T>
void cosine_backward(const T* dy, const T* y,      // (O), (O)
                     const T* A, const T* norm_a,  // (Ra, D), (Ra)
                     const T* B, const T* norm_b,  // (Rb, D), (Rb)
                     const int64_t* ia, const int64_t* ib, int64_t O, int64_t Ra, int64_t Rb, int64_t D,
                     T* dA,   // (Ra, D) or null
                     T* dB);  // (Rb, D) or null

// Outer-product layout (every row of A against every row of B; y (Ra, Rb) row-major), HuBERT's
// (T, 1, D) x (1, C, D) logits: the dot products become one BLAS GEMM instead of Ra * Rb strided dots.
//   y = (A / na) (B / nb)^T      (= A B^T / (na nb^T))
template <class T>
void cosine_forward_outer(const T* A, const T* norm_a,  // (Ra, D), (Ra)
                          const T* B, const T* norm_b,  // (Rb, D), (Rb)
                          int64_t Ra, int64_t Rb, int64_t D,
                          T* y);  // (Ra, Rb)

// The same gradient as cosine_backward, as two GEMMs: with S = dy / (na nb^T) (Ra, Rb),
//   dA = S B - (rowsum(dy * y) / na^2) A,   dB = S^T A - (colsum(dy * y) / nb^2) B.
template <class T>
void cosine_backward_outer(const T* dy, const T* y,      // (Ra, Rb), (Ra, Rb)
                           const T* A, const T* norm_a,  // (Ra, D), (Ra)
                           const T* B, const T* norm_b,  // (Rb, D), (Rb)
                           int64_t Ra, int64_t Rb, int64_t D,
                           T* dA,   // (Ra, D) or null
                           T* dB);  // (Rb, D) or null

}  // namespace hm::cpu
