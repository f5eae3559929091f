// Shape and indexing ops: cat, stack, pad, embedding, gather, index_select (torch semantics). All differentiable
// with respect to their floating inputs; forward of the index ops moves raw elements (every dtype, on the CPU
// and on CUDA), their backward is f32 / f64.
#pragma once
#include <concepts>
#include <initializer_list>
#include <type_traits>
#include <vector>

#include "engine/tensor.h"
#include "ops/registry.h"

namespace hm {

// torch.cat: same rank and dtype, sizes equal except along `dim`.
Tensor cat_tensors(const std::vector<Tensor>& tensors, int64_t dim);

// hm::cat(tensors, dim) forwards to cat_tensors. engine/error.h's variadic hm::cat(parts...) concatenates strings
// and would otherwise win overload resolution for a non-const vector or an int dim; this constrained,
// non-variadic template is more specialised, and the initializer_list overload takes cat({a, b}, 1).
template <class List, class Dim = int64_t>
requires std::same_as<std::remove_cvref_t<List>, std::vector<Tensor>> && std::integral<Dim> Tensor cat(List&& tensors,
                                                                                                       Dim dim = 0) {
  return cat_tensors(tensors, int64_t(dim));
}
inline Tensor cat(std::initializer_list<Tensor> tensors, int64_t dim = 0) { return cat_tensors(tensors, dim); }

// torch.stack: same shape and dtype; a new dim of size tensors.size() is inserted at `dim` (in [-rank-1, rank]).
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);

// torch.nn.functional.pad(x, pads, mode="constant", value): pads = (left, right) of the last dim, then (top,
// bottom) of the one before, ...; at most 2 * rank values. Negative pads crop.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value = 0.0);

// torch.nn.functional.embedding: weight (V, D), indices (int32/int64, any shape) -> (*indices.shape, D).
// Every index must be in [0, V); the error names the offending index and V.
Tensor embedding(const Tensor& weight, const Tensor& indices);

// torch.gather(t, dim, index): index has t's rank and index.size(d) <= t.size(d) for d != dim;
// out[..i_dim..] = t[..index[..i_dim..]..]. Backward scatter-adds into the input's gradient.
Tensor gather(const Tensor& t, int64_t dim, const Tensor& index);

// torch.index_select(t, dim, index): index is 1-D; out.size(dim) = index.numel().
Tensor index_select(const Tensor& t, int64_t dim, const Tensor& index);

// ---- index kernels: one signature for both devices ----------------------------------------------------------
// embedding / index_select / gather run on the tables `index` / `index_add` (CPU: the "scalar" reference,
// cpu/index.h) or `index@cuda` / `index_add@cuda` (cuda/index.h, registered in ops/shape_cuda.cpp, empty without
// CUDA). Indices reach the kernels as contiguous int64 (int32 index tensors are converted once); the forward kernels
// move elements of elem_bytes bytes, so they serve every dtype. Shapes / strides are host arrays of `rank` values.

// Forward gathers and the index check (CUDA variant cuda_simple).
struct IndexKernels {
  // Position of the first index outside [0, n), or -1 (on CUDA: synchronises).
  int64_t (*first_out_of_range)(const int64_t* index, int64_t count, int64_t n);
  // out[o][k][:] = src[o][index[k]][:]   src (outer, N, inner), out (outer, n, inner)
  void (*select_rows)(const void* src, int64_t elem_bytes, int64_t outer, int64_t N, int64_t inner,
                      const int64_t* index, int64_t n, void* out);
  // torch.gather along `dim`: index / out contiguous of index_shape, src read through src_strides
  void (*gather_dim)(const void* src, int64_t elem_bytes, const int64_t* src_strides, const int64_t* index,
                     const int64_t* index_shape, int64_t rank, int64_t dim, void* out);
};
KernelTable<IndexKernels>& index_table();
KernelTable<IndexKernels>& index_cuda_table();

// The scatter-adds of the backward passes (CUDA variants cuda_atomic, cuda_ordered).
template <class T>
struct IndexAddFns {
  // grad_src[o][index[k]][:] += grad_out[o][k][:]   (embedding, index_select)
  void (*add_rows)(T* grad_src, int64_t outer, int64_t N, int64_t inner, const int64_t* index, int64_t n,
                   const T* grad_out);
  // dst[coords(i) with `dim` replaced by index[i]] += src[i]   (gather); dst written through dst_strides
  void (*scatter_add)(T* dst, const int64_t* dst_strides, const int64_t* index, const int64_t* index_shape,
                      int64_t rank, int64_t dim, const T* src);
};
struct IndexAddKernels {
  IndexAddFns<float> f32;
  IndexAddFns<double> f64;
};
KernelTable<IndexAddKernels>& index_add_table();
KernelTable<IndexAddKernels>& index_add_cuda_table();

}  // namespace hm
