// CUDA reduction kernels: sum / max over the last axis of a (rows, cols) array, over the middle axis of an
// (outer, rows, cols) array, and the gradient routing of max. Raw device pointers + sizes (DESIGN.md 1), launched
// on hm::cuda::stream(); T is float or double. Sums accumulate in T in a fixed order (per-thread strided partial
// sums, then a warp / block tree), so results do not depend on the run; max propagates NaN like torch.amax.
#pragma once
#include <cstdint>

#include "cpu/elementwise.h"

namespace hm::cuda {

// out[r] = reduce_c x[r, c]              x: (rows, cols), out: (rows); cols >= 1 for max
// A warp per row for cols <= 1024, a block of 256 threads per row above; too few rows to fill the GPU with long
// ones (a sum over everything) go in two passes through a (rows, chunks) buffer from the caching allocator.
template <class T>
void reduce_rows(cpu::ReduceOp op, const T* x, T* out, int64_t rows, int64_t cols);

// out[k, c] = reduce_r x[k, r, c]        x: (outer, rows, cols), out: (outer, cols); rows >= 1 for max
// One block per 32 columns of one k; its 8 warps stride over r, then combine in shared memory. With too few such
// blocks to fill the GPU (a bias gradient (B T, C) -> (C)) the rows are split into chunks: two passes through an
// (outer, chunks, cols) buffer from the caching allocator.
template <class T>
void reduce_cols(cpu::ReduceOp op, const T* x, T* out, int64_t outer, int64_t rows, int64_t cols);

// gx[r, c] = g[r] at the first c (in order) with x[r, c] == m[r] (or both NaN), else 0: torch.max(dim)'s index
// gets the whole gradient.                x, gx: (rows, cols), m, g: (rows)
template <class T>
void max_backward_rows(const T* x, const T* m, const T* g, T* gx, int64_t rows, int64_t cols);

}  // namespace hm::cuda
