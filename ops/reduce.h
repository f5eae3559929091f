// Reductions with autograd: sum, mean, max, var over a list of dims (negative dims count from the end; an empty
// list reduces every dim), keepdim keeps the reduced dims with size 1. Float32 / float64.
//
// Layout strategy (ops/reduce.cpp): on a contiguous input, reduced dims that are all trailing use the row kernel
// ((rows, cols) -> (rows)), all leading the column kernel ((rows, cols) -> (cols)), a middle block one column
// reduction per outer index; anything else is permuted (kept dims first) and made contiguous. Summation order
// is fixed by the shape, not the thread count (cpu/elementwise_parallel.h).
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace hm {

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// Maximum value (torch.amax-like values, NaN propagates); the gradient goes to the first maximal element of each
// reduced slice in row-major order (torch.max(dim)'s index), not split among ties.
Tensor max(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// Variance with Bessel-style correction: sum((x - mean)^2) / (N - correction). correction = 1 (or `true`) is the
// unbiased estimate, 0 (or `false`) the population variance; N <= correction gives inf / nan like PyTorch.
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1, bool keepdim = false);

// Sum g over the dims that were broadcast to reach g's shape from `shape` (numpy rules) and reshape to `shape`:
// the gradient of a broadcast operand. Returns g itself when the shapes already agree.
Tensor sum_to_shape(const Tensor& g, const Shape& shape);

}  // namespace hm
