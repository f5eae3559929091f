// Indexing kernels on raw pointers for the shape ops (ops/shape.cpp): row gathers (embedding, index_select),
// gather along a dim, and their scatter-add adjoints. Indices are validated by the caller; these loops trust
// them. Templates over the element type T and the index type I (int32_t / int64_t), header-only because each is
// a few lines instantiated for many dtype pairs.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "cpu/parallel.h"

namespace hm::cpu {

// Position of the first index outside [0, n), or -1 when all are valid.
template <class I>
int64_t first_out_of_range(const I* index, int64_t count, int64_t n) {
  for (int64_t i = 0; i < count; ++i)
    if (index[i] < 0 || int64_t(index[i]) >= n) return i;
  return -1;
}

// out[o][k][:] = src[o][index[k]][:]   with src (outer, N, inner), out (outer, n, inner), both contiguous.
// torch.index_select along the middle dim; embedding is outer = 1, inner = D.
template <class T, class I>
void index_select_rows(const T* src, int64_t outer, int64_t N, int64_t inner, const I* index, int64_t n, T* out) {
  parallel_for(outer * n, inner, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t o = r / n, k = r % n;
      const T* s = src + (o * N + int64_t(index[k])) * inner;
      std::copy(s, s + inner, out + r * inner);
    }
  });
}

// grad_src[o][index[k]][:] += grad_out[o][k][:]   (the adjoint of index_select_rows; torch's index_add_).
// Sequential over k so repeated indices accumulate in a fixed order (deterministic); parallel over o.
template <class T, class I>
void index_add_rows(T* grad_src, int64_t outer, int64_t N, int64_t inner, const I* index, int64_t n,
                    const T* grad_out) {
  parallel_for(outer, n * inner, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      for (int64_t k = 0; k < n; ++k) {
        T* d = grad_src + (o * N + int64_t(index[k])) * inner;
        const T* g = grad_out + (o * n + k) * inner;
        for (int64_t j = 0; j < inner; ++j) d[j] += g[j];
      }
  });
}

// Visit every element of a contiguous tensor of shape `shape` (rank dims) in row-major order, calling
// f(flat_position, offset) where offset = sum over d != dim of i_d * strides[d] (the dim `dim` contributes 0; the
// caller adds index * strides[dim]).
template <class F>
void for_each_except_dim(const int64_t* shape, const int64_t* strides, int64_t rank, int64_t dim, F&& f) {
  int64_t count = 1;
  for (int64_t d = 0; d < rank; ++d) count *= shape[d];
  std::vector<int64_t> idx(size_t(rank), 0);
  int64_t off = 0;
  for (int64_t i = 0; i < count; ++i) {
    f(i, off);
    for (int64_t d = rank - 1; d >= 0; --d) {
      const int64_t step = d == dim ? 0 : strides[d];
      off += step;
      if (++idx[d] < shape[d]) break;
      off -= step * shape[d];
      idx[d] = 0;
    }
  }
}

// torch.gather: out[i0..][..] = src[i0]..[index[i0..]]..[..] with the index replacing coordinate `dim`.
// index and out are contiguous of shape index_shape; src has element strides src_strides (same rank).
template <class T, class I>
void gather_dim(const T* src, const int64_t* src_strides, const I* index, const int64_t* index_shape, int64_t rank,
                int64_t dim, T* out) {
  for_each_except_dim(index_shape, src_strides, rank, dim,
                      [&](int64_t i, int64_t off) { out[i] = src[off + int64_t(index[i]) * src_strides[dim]]; });
}

// The adjoint (torch.Tensor.scatter_add_): dst[... index[i] ...] += src[i], sequential (deterministic).
template <class T, class I>
void scatter_add_dim(T* dst, const int64_t* dst_strides, const I* index, const int64_t* index_shape, int64_t rank,
                     int64_t dim, const T* src) {
  for_each_except_dim(index_shape, dst_strides, rank, dim,
                      [&](int64_t i, int64_t off) { dst[off + int64_t(index[i]) * dst_strides[dim]] += src[i]; });
}

}  // namespace hm::cpu
