// Cosine similarity (torch.nn.functional.cosine_similarity, PyTorch 1.13 semantics): HuBERT's logits are
// cosine_similarity(proj (T, 1, D), label_embs (1, C, D), dim=-1) / 0.1.
#pragma once
#include "engine/tensor.h"
#include "ops/registry.h"

namespace hm {

// a and b broadcast against each other (numpy rules); the result has the broadcast shape without `dim`:
//   y = sum_dim(a * b) / (max(|a|_dim, eps) * max(|b|_dim, eps))       (each norm clamped on its own, as 1.13)
Tensor cosine_similarity(const Tensor& a, const Tensor& b, int64_t dim = 1, double eps = 1e-8);

// ---- CUDA (cuda/cosine.h; variant cuda_rows registered in ops/similarity_cuda.cpp, empty without CUDA) -------
// The row kernels of the `cosine_similarity@cuda` table; the outer-product layout's GEMMs go through gemm@cuda.
template <class T>
struct CosineCudaFns {
  // norm (R) = max(|A[r]|, eps), A (R, D)
  void (*row_norms)(const T* A, int64_t R, int64_t D, T eps, T* norm);
  // y[o] = <A[ia[o]], B[ib[o]]> / (na[ia[o]] nb[ib[o]])
  void (*forward_pairs)(const T* A, const T* na, const T* B, const T* nb, const int64_t* ia, const int64_t* ib,
                        int64_t O, int64_t D, T* y);
  // dX (R, D) of one side, outputs of row r at order[start[r] .. start[r + 1]), iy the partner rows
  void (*backward_rows)(const T* dy, const T* y, const T* X, const T* nx, const T* Y, const T* ny, const int64_t* iy,
                        const int64_t* start, const int64_t* order, int64_t R, int64_t D, T* dX);
  // out (R, D) = X / norm[r]
  void (*normalize_rows)(const T* X, const T* norm, int64_t R, int64_t D, T* out);
  // S (Ra, Rb) = dy / (na nb^T), row_sums (Ra) / col_sums (Rb) of dy * y
  void (*outer_scale)(const T* dy, const T* y, const T* na, const T* nb, int64_t Ra, int64_t Rb, T* S, T* row_sums,
                      T* col_sums);
  // dX (R, D) = -(sums[r] / nx[r]^2) X[r]
  void (*diagonal_term)(const T* X, const T* nx, const T* sums, int64_t R, int64_t D, T* dX);
};
struct CosineCudaKernels {
  CosineCudaFns<float> f32;
  CosineCudaFns<double> f64;
};
KernelTable<CosineCudaKernels>& cosine_cuda_table();

}  // namespace hm
