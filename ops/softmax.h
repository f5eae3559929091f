// softmax, log_softmax and logsumexp over one dim (negative counts from the end), with autograd; float32 /
// float64. The dim is moved last (permute + contiguous) when it is not already, the row kernels
// (cpu/elementwise.h SoftmaxFn) run on (rows, cols), and the result is permuted back to a contiguous tensor.
// Rows are shifted by their maximum; a row whose maximum is +-inf is shifted by 0 (torch.logsumexp's rule), so
// an all -inf row gives logsumexp -inf and softmax nan, as in PyTorch.
#pragma once
#include "engine/tensor.h"

namespace hm {

Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
Tensor logsumexp(const Tensor& x, int64_t dim, bool keepdim = false);

}  // namespace hm
