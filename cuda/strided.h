// Layout-generic device loops the engine needs (engine/strided.h on the GPU): strided copy with dtype
// conversion, fill, in-place add, and the sum over broadcast dims. Layouts arrive as (shape, strides) of rank
// <= kMaxRank after the caller merged dims that are contiguous in every operand.
#pragma once
#include <cstdint>

#include "engine/dtype.h"

namespace hm::cuda {

constexpr int kMaxRank = 8;

struct Layout {
  int rank = 0;
  int64_t shape[kMaxRank] = {};
  int64_t dst_strides[kMaxRank] = {};  // in elements
  int64_t src_strides[kMaxRank] = {};
};

// dst[i] = convert(src[i]) for every index of layout.shape (any of f32 f64 i32 i64 u8 bf16 f16).
void strided_copy(void* dst, DType dst_dtype, const void* src, DType src_dtype, const Layout& layout);
// dst[i] = value (dst_strides only).
void strided_fill(void* dst, DType dtype, double value, const Layout& layout);
// dst[i] += src[i] (f32, f64, bf16).
void strided_add(void* dst, const void* src, DType dtype, const Layout& layout);
// out (contiguous, rank = layout.rank, out_shape[d] in {1, shape[d]}) += sum of src over the dims where
// out_shape[d] == 1 != shape[d]. One thread per output element; f32 accumulates in f32, f64 in f64.
void sum_to(void* out, const int64_t* out_shape, const void* src, DType dtype, const Layout& layout);

}  // namespace hm::cuda
