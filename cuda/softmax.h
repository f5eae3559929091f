// CUDA softmax / log_softmax / logsumexp over the last axis of a (rows, cols) array, and the backward of softmax
// and log_softmax. Raw device pointers + sizes (DESIGN.md 1), launched on hm::cuda::stream(); T is float or double.
// Same functions as cpu/elementwise.h SoftmaxFn / SoftmaxBackwardFn: rows are shifted by their maximum, a row
// whose maximum is +-inf by 0 (torch.logsumexp's rule), NaN propagates.
#pragma once
#include <cstdint>

#include "cpu/elementwise.h"

namespace hm::cuda {

// softmax / log_softmax: y (rows, cols); logsumexp: y (rows).     x: (rows, cols)
// A warp per row for cols <= 1024, a block of 256 threads per row above; three passes over the row (max, sum of
// exponentials, write), the row staying in L1/L2 between them.
template <class T>
void softmax(cpu::SoftmaxOp op, const T* x, T* y, int64_t rows, int64_t cols);

//   softmax:     gx = y * (gy - sum_c(gy * y))
//   log_softmax: gx = gy - exp(y) * sum_c(gy)                      y, gy, gx: (rows, cols)
template <class T>
void softmax_backward(cpu::SoftmaxOp op, const T* y, const T* gy, T* gx, int64_t rows, int64_t cols);

}  // namespace hm::cuda
