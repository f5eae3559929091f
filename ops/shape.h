// Shape and indexing ops: cat, stack, pad, embedding, gather, index_select (torch semantics). All differentiable
// with respect to their floating inputs; forward works for every CPU dtype where torch allows it.
#pragma once
#include <concepts>
#include <initializer_list>
#include <type_traits>
#include <vector>

#include "engine/tensor.h"

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

}  // namespace hm
