// Indexing kernels on device pointers for the shape ops (ops/shape.cpp): the CUDA twins of cpu/index.h. Indices
// are int64 (the op layer converts int32 index tensors once); the forward kernels move raw elements of
// `elem_bytes` (1, 2, 4 or 8) so they serve every dtype, bf16 included. Shapes and strides are in elements, host
// arrays of `rank` (<= kMaxIndexRank) values, passed to the kernels by value.
//
// Backward (the scatter-adds) comes in two flavours with the same result up to f32 summation order:
//   *_atomic  : one thread per source element, atomicAdd into the gradient. Fast; with repeated indices the order
//               of the additions (hence the last bits of an f32 sum) changes from run to run.
//   *_ordered : one thread per destination fiber (a column j of the rows case, every coordinate but `dim` in the
//               gather case) walking the index in order. No two threads touch one element, no atomics, and the
//               additions happen in the CPU kernel's order: bit-identical to cpu::index_add_rows /
//               cpu::scatter_add_dim and reproducible. Less parallel (outer * inner threads, each looping n).
#pragma once
#include <cstdint>

namespace hm::cuda {

constexpr int64_t kMaxIndexRank = 8;

// Position of the first index outside [0, n), or -1 when all are valid. Synchronises (copies one value back).
int64_t first_out_of_range(const int64_t* index, int64_t count, int64_t n);

// out[o][k][:] = src[o][index[k]][:]   src (outer, N, inner), out (outer, n, inner), contiguous.
void index_select_rows(const void* src, int64_t elem_bytes, int64_t outer, int64_t N, int64_t inner,
                       const int64_t* index, int64_t n, void* out);

// torch.gather: out[i] = src[coords(i) with coordinate `dim` replaced by index[i]]; index and out contiguous of
// shape index_shape, src read through src_strides.
void gather_dim(const void* src, int64_t elem_bytes, const int64_t* src_strides, const int64_t* index,
                const int64_t* index_shape, int64_t rank, int64_t dim, void* out);

// grad_src[o][index[k]][:] += grad_out[o][k][:]   (index_add_ along the middle dim; embedding's weight gradient)
void index_add_rows_atomic_f32(float* grad_src, int64_t outer, int64_t N, int64_t inner, const int64_t* index,
                               int64_t n, const float* grad_out);
void index_add_rows_atomic_f64(double* grad_src, int64_t outer, int64_t N, int64_t inner, const int64_t* index,
                               int64_t n, const double* grad_out);
void index_add_rows_ordered_f32(float* grad_src, int64_t outer, int64_t N, int64_t inner, const int64_t* index,
                                int64_t n, const float* grad_out);
void index_add_rows_ordered_f64(double* grad_src, int64_t outer, int64_t N, int64_t inner, const int64_t* index,
                                int64_t n, const double* grad_out);

// dst[coords(i) with `dim` replaced by index[i]] += src[i]   (scatter_add_; gather's gradient). index and src
// contiguous of shape index_shape, dst written through dst_strides.
void scatter_add_dim_atomic_f32(float* dst, const int64_t* dst_strides, const int64_t* index,
                                const int64_t* index_shape, int64_t rank, int64_t dim, const float* src);
void scatter_add_dim_atomic_f64(double* dst, const int64_t* dst_strides, const int64_t* index,
                                const int64_t* index_shape, int64_t rank, int64_t dim, const double* src);
void scatter_add_dim_ordered_f32(float* dst, const int64_t* dst_strides, const int64_t* index,
                                 const int64_t* index_shape, int64_t rank, int64_t dim, const float* src);
void scatter_add_dim_ordered_f64(double* dst, const int64_t* dst_strides, const int64_t* index,
                                 const int64_t* index_shape, int64_t rank, int64_t dim, const double* src);

}  // namespace hm::cuda
