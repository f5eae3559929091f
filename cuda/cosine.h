// Cosine-similarity kernels on device pointers (the CUDA twins of cpu/cosine.h, same formulas, PyTorch 1.13
// semantics: each norm clamped separately, y = <a, b> / (max(|a|, eps) * max(|b|, eps)), and the gradient taken
// through the clamped norm as if it were |x|). Templates over T = float / double, instantiated in cuda/cosine.cu.
// The outer-product layout's GEMMs are not here: ops/similarity.cpp runs them through the CUDA `gemm` table.
#pragma once
#include <cstdint>

namespace hm::cuda {

// norm (R) = max(|A[r]|, eps) for A (R, D).
template <class T>
void cosine_row_norms(const T* A, int64_t R, int64_t D, T eps, T* norm);

// y[o] = <A[ia[o]], B[ib[o]]> / (norm_a[ia[o]] * norm_b[ib[o]]); A (Ra, D), B (Rb, D), ia / ib / y (O).
template <class T>
void cosine_forward_pairs(const T* A, const T* norm_a, const T* B, const T* norm_b, const int64_t* ia,
                          const int64_t* ib, int64_t O, int64_t D, T* y);

// The gradient of one side, X (R, D), partner Y: with the outputs of row r listed in order[start[r] ..
// start[r + 1]) (ascending o, a counting sort of ix done by the caller),
//   dX[r] = sum_{o of r} dy[o] / (nx[r] ny[iy[o]]) Y[iy[o]] - (sum_{o of r} dy[o] y[o]) / nx[r]^2 X[r].
// One thread per element of dX, summing in the order of `order`: deterministic, no atomics.
template <class T>
void cosine_backward_rows(const T* dy, const T* y, const T* X, const T* norm_x, const T* Y, const T* norm_y,
                          const int64_t* iy, const int64_t* start, const int64_t* order, int64_t R, int64_t D, T* dX);

// out (R, D) = X / norm[r] row by row: the normalised rows whose GEMM is the outer-product layout's y.
template <class T>
void cosine_normalize_rows(const T* X, const T* norm, int64_t R, int64_t D, T* out);

// Outer-product backward, elementwise part: S (Ra, Rb) = dy / (na nb^T), row_sums (Ra) = sum_j dy * y,
// col_sums (Rb) = sum_i dy * y (each sum in index order).
template <class T>
void cosine_outer_scale(const T* dy, const T* y, const T* norm_a, const T* norm_b, int64_t Ra, int64_t Rb, T* S,
                        T* row_sums, T* col_sums);

// dX (R, D) = -(sums[r] / nx[r]^2) X[r]: the diagonal term, written before a beta = 1 GEMM adds S' Y.
template <class T>
void cosine_diagonal_term(const T* X, const T* norm_x, const T* sums, int64_t R, int64_t D, T* dX);

}  // namespace hm::cuda
