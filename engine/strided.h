// Layout-generic loops the engine itself needs: strided copy (with dtype conversion), fill, in-place add and
// reduction onto a broadcast shape. Kernels proper live in cpu/; these keep the engine free of dependencies.
#pragma once
#include "engine/tensor.h"

namespace hm::strided {

// dst[i] = src[i] elementwise over identical shapes, any strides, converting dtype (float/int types).
void copy(const Tensor& dst, const Tensor& src);
// dst[...] = value.
void fill(const Tensor& dst, double value);
// dst += src over identical shapes (float types); dst may be any layout.
void add_inplace(const Tensor& dst, const Tensor& src);
// Sum `src` over the dims that were broadcast to reach src.shape() from `shape` (numpy rules) -> new tensor.
Tensor sum_to(const Tensor& src, const Shape& shape);

}  // namespace hm::strided
