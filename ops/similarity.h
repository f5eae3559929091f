// Cosine similarity (torch.nn.functional.cosine_similarity, PyTorch 1.13 semantics): HuBERT's logits are
// cosine_similarity(proj (T, 1, D), label_embs (1, C, D), dim=-1) / 0.1.
#pragma once
#include "engine/tensor.h"
#include "ops/registry.h"

namespace hm {

// a and b broadcast against each other (numpy rules); the result has the broadcast shape without `dim`:
//   y = sum_dim(a * b) / (max(|a|_dim, eps) * max(|b|_dim, eps))       (each norm clamped on its own, as 1.13)
Tensor cosine_similarity(const Tensor& a, const Tensor& b, int64_t dim = 1, double eps = 1e-8);

// ---- kernels: one signature for both devices (cpu/cosine.h and cuda/cosine.h document each) ------------------
// Table `cosine_similarity` holds the CPU reference ("scalar", cpu/cosine.h; its outer layout calls OpenBLAS),
// `cosine_similarity@cuda` the CUDA kernels ("cuda_rows", cuda/cosine.h; registered in ops/similarity_cuda.cpp,
// empty without CUDA). All pointers live on the table's device.
template <class T>
struct CosineFns {
  void (*row_norms)(const T* A, int64_t R, int64_t D, T eps, T* norm);
  void (*forward)(const T* A, const T* na, const T* B, const T* nb, const int64_t* ia, const int64_t* ib, int64_t O,
                  int64_t D, T* y);
  void (*backward)(const T* dy, const T* y, const T* A, const T* na, const T* B, const T* nb, const int64_t* ia,
                   const int64_t* ib, int64_t O, int64_t Ra, int64_t Rb, int64_t D, T* dA, T* dB);
  void (*forward_outer)(const T* A, const T* na, const T* B, const T* nb, int64_t Ra, int64_t Rb, int64_t D, T* y);
  void (*backward_outer)(const T* dy, const T* y, const T* A, const T* na, const T* B, const T* nb, int64_t Ra,
                         int64_t Rb, int64_t D, T* dA, T* dB);
};
struct CosineKernels {
  CosineFns<float> f32;
  CosineFns<double> f64;
};
KernelTable<CosineKernels>& cosine_table();
KernelTable<CosineKernels>& cosine_cuda_table();

}  // namespace hm
