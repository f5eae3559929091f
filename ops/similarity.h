// Cosine similarity (torch.nn.functional.cosine_similarity, PyTorch 1.13 semantics): HuBERT's logits are
// cosine_similarity(proj (T, 1, D), label_embs (1, C, D), dim=-1) / 0.1.
#pragma once
#include "engine/tensor.h"

namespace hm {

// a and b broadcast against each other (numpy rules); the result has the broadcast shape without `dim`:
//   y = sum_dim(a * b) / (max(|a|_dim, eps) * max(|b|_dim, eps))       (each norm clamped on its own, as 1.13)
Tensor cosine_similarity(const Tensor& a, const Tensor& b, int64_t dim = 1, double eps = 1e-8);

}  // namespace hm
