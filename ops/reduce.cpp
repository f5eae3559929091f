// Reductions: layout analysis (which kernel fits), forward and backward of sum, mean, max, var.
#include "ops/reduce.h"

#include <cstring>
#include <numeric>

#include "cpu/elementwise_parallel.h"
#include "cpu/elementwise_scalar.h"
#include "engine/autograd.h"
#include "engine/strided.h"
#include "ops/elementwise.h"
#include "ops/elementwise_tables.h"
#include "ops/registry.h"

namespace hm {
namespace {

using cpu::ReduceOp;
using Grads = std::vector<Tensor>;
using Needs = std::vector<bool>;

const OpRegistrar kOps{"sum", "mean", "max", "var"};

// reduced[d] for every dim of x; an empty list means every dim.
std::vector<bool> reduced_flags(const Tensor& x, const std::vector<int64_t>& dims, const char* op) {
  const int64_t rank = x.dim();
  std::vector<bool> reduced(size_t(rank), dims.empty());
  for (int64_t d : dims) {
    const int64_t w = wrap_dim(d, rank, op);
    if (rank == 0) continue;  // a 0-d tensor accepts dim 0 / -1 and reduces to itself
    check(!reduced[size_t(w)], op, ": dim ", d, " repeated in the dim list for shape ", x.shape());
    reduced[size_t(w)] = true;
  }
  return reduced;
}

Shape keep_shape(const Shape& s, const std::vector<bool>& reduced) {
  Shape k = s;
  for (size_t d = 0; d < s.size(); ++d)
    if (reduced[d]) k[d] = 1;
  return k;
}

Shape squeezed_shape(const Shape& s, const std::vector<bool>& reduced) {
  Shape k;
  for (size_t d = 0; d < s.size(); ++d)
    if (!reduced[d]) k.push_back(s[d]);
  return k;
}

int64_t reduced_count(const Shape& s, const std::vector<bool>& reduced) {
  int64_t n = 1;
  for (size_t d = 0; d < s.size(); ++d)
    if (reduced[d]) n *= s[d];
  return n;
}

// Kept dims first (in order), then reduced dims (in order): the (rows, cols) layout of the row kernel.
std::vector<int64_t> kept_then_reduced(const std::vector<bool>& reduced) {
  std::vector<int64_t> perm;
  for (size_t d = 0; d < reduced.size(); ++d)
    if (!reduced[d]) perm.push_back(int64_t(d));
  for (size_t d = 0; d < reduced.size(); ++d)
    if (reduced[d]) perm.push_back(int64_t(d));
  return perm;
}

std::vector<int64_t> inverse_permutation(const std::vector<int64_t>& perm) {
  std::vector<int64_t> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[size_t(perm[i])] = int64_t(i);
  return inv;
}

// A run of adjacent dims of size > 1 that are all kept or all reduced.
struct Run {
  int64_t size;
  bool reduced;
};

// reduce_forward on the GPU, same run analysis: [R] / [K, R] reduce rows, [R, K] and [K1, R, K2] reduce the middle
// axis of (outer, rows, cols) in one launch; interleaved runs are permuted (kept dims first) and reduce rows.
void reduce_forward_cuda(ReduceOp op, const Tensor& x, const std::vector<bool>& reduced, const std::vector<Run>& runs,
                         const Tensor& out, const char* name) {
  dispatch_float(x.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    const ReduceCudaFns<T> k = reduce_cuda_table<T>().get();
    const T* px = x.device_data<T>();
    T* po = out.device_data<T>();
    if (runs.empty() || (runs.size() == 1 && !runs[0].reduced)) {  // nothing of size > 1 is reduced
      strided::copy(out, x.reshape(out.shape()));
    } else if (runs.back().reduced && runs.size() <= 2) {  // [R] or [K, R]
      k.rows(op, px, po, out.numel(), runs.back().size);
    } else if (runs.size() == 2) {  // [R, K]
      k.cols(op, px, po, 1, runs[0].size, runs[1].size);
    } else if (runs.size() == 3 && !runs[0].reduced) {  // [K1, R, K2]
      k.cols(op, px, po, runs[0].size, runs[1].size, runs[2].size);
    } else {
      const Tensor xp = x.permute(kept_then_reduced(reduced)).contiguous();
      k.rows(op, xp.device_data<T>(), po, out.numel(), x.numel() / out.numel());
    }
  });
}

// y (keepdim shape) = reduce x over the flagged dims, no autograd.
Tensor reduce_forward(ReduceOp op, const Tensor& x_in, const std::vector<bool>& reduced, const char* name) {
  const Tensor x = x_in.detach().contiguous();
  const Shape& s = x.shape();
  if (op == ReduceOp::max)
    for (size_t d = 0; d < s.size(); ++d)
      check(!reduced[d] || s[d] > 0, name, ": cannot reduce over dim ", d, " of size 0 in shape ", s);
  Tensor out = empty(keep_shape(s, reduced), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  if (x.numel() == 0) return zeros(out.shape(), x.dtype(), x.device());  // sum over an empty dim
  // Merge the dims of size > 1 into alternating runs of kept (K) and reduced (R) dims.
  std::vector<Run> runs;
  for (size_t d = 0; d < s.size(); ++d) {
    if (s[d] == 1) continue;
    if (!runs.empty() && runs.back().reduced == reduced[d])
      runs.back().size *= s[d];
    else
      runs.push_back({s[d], bool(reduced[d])});
  }
  if (x.is_cuda()) {
    reduce_forward_cuda(op, x, reduced, runs, out, name);
    return out;
  }
  dispatch_float(x.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    const auto rows_fn = reduce_rows_table<T>().get();
    const auto cols_fn = reduce_cols_table<T>().get();
    if (runs.empty() || (runs.size() == 1 && !runs[0].reduced)) {  // nothing of size > 1 is reduced
      std::memcpy(po, px, size_t(x.numel()) * sizeof(T));
    } else if (runs.back().reduced && runs.size() <= 2) {  // [R] or [K, R]: rows
      cpu::parallel_reduce_rows(rows_fn, op, px, po, out.numel(), runs.back().size);
    } else if (runs.size() == 2) {  // [R, K]: columns
      cpu::parallel_reduce_cols(cols_fn, op, px, po, runs[0].size, runs[1].size);
    } else if (runs.size() == 3 && !runs[0].reduced && runs[2].size >= 16) {  // [K1, R, K2]: columns per K1
      const int64_t r = runs[1].size, k2 = runs[2].size;
      cpu::parallel_for(runs[0].size, r * k2, [&](int64_t k0, int64_t k1) {
        for (int64_t k = k0; k < k1; ++k) cpu::parallel_reduce_cols(cols_fn, op, px + k * r * k2, po + k * k2, r, k2);
      });
    } else {  // interleaved: move the reduced dims last and reduce rows
      const Tensor xp = x.permute(kept_then_reduced(reduced)).contiguous();
      cpu::parallel_reduce_rows(rows_fn, op, xp.data<T>(), po, out.numel(), x.numel() / out.numel());
    }
  });
  return out;
}

// g (output shape) -> the input shape, each output's gradient copied over its reduced slice.
Tensor expand_back(const Tensor& g, const Shape& keep, const Shape& in_shape) {
  return g.reshape(keep).expand(in_shape).contiguous();
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  const std::vector<bool> reduced = reduced_flags(x, dims, "sum");
  const Tensor y = reduce_forward(ReduceOp::sum, x, reduced, "sum");
  Tensor out = keepdim ? y : y.reshape(squeezed_shape(x.shape(), reduced));
  record("sum", {x}, {out}, [keep = y.shape(), in_shape = x.shape()](const Grads& g, const Needs&) {
    return Grads{expand_back(g[0], keep, in_shape)};
  });
  return out;
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  const std::vector<bool> reduced = reduced_flags(x, dims, "mean");
  const double inv_n = 1.0 / double(reduced_count(x.shape(), reduced));  // inf for an empty slice: nan mean
  const Tensor y = mul(reduce_forward(ReduceOp::sum, x, reduced, "mean"), inv_n);
  Tensor out = keepdim ? y : y.reshape(squeezed_shape(x.shape(), reduced));
  record("mean", {x}, {out}, [keep = y.shape(), in_shape = x.shape(), inv_n](const Grads& g, const Needs&) {
    return Grads{expand_back(mul(g[0], inv_n), keep, in_shape)};
  });
  return out;
}

Tensor max(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  const std::vector<bool> reduced = reduced_flags(x, dims, "max");
  const Tensor y = reduce_forward(ReduceOp::max, x, reduced, "max");
  Tensor out = keepdim ? y : y.reshape(squeezed_shape(x.shape(), reduced));
  if (!any_requires_grad({x})) return out;
  record("max", {x}, {out}, [xs = x.detach(), ys = y.detach(), reduced](const Grads& g, const Needs&) {
    // Route each output's gradient to the first maximal element of its slice: in the kept-then-reduced layout
    // a slice is one row, in row-major order of the reduced dims.
    const std::vector<int64_t> perm = kept_then_reduced(reduced);
    const Tensor xp = xs.permute(perm).contiguous();
    const Tensor gc = g[0].contiguous();
    Tensor gp = empty(xp.shape(), xp.dtype(), xp.device());
    const int64_t rows = ys.numel(), cols = rows ? xp.numel() / rows : 0;
    dispatch_float(xp.dtype(), "max", [&](auto tag) {
      using T = decltype(tag);
      if (xp.is_cuda())
        return reduce_cuda_table<T>().get().max_backward(xp.device_data<T>(), ys.device_data<T>(), gc.device_data<T>(),
                                                         gp.device_data<T>(), rows, cols);
      cpu::scalar::max_backward_rows(xp.data<T>(), ys.data<T>(), gc.data<T>(), gp.data<T>(), rows, cols);
    });
    return Grads{gp.permute(inverse_permutation(perm)).contiguous()};
  });
  return out;
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  const std::vector<bool> reduced = reduced_flags(x, dims, "var");
  const double dof = double(reduced_count(x.shape(), reduced) - correction);
  // PyTorch clamps the degrees of freedom at 0: division by 0 then gives inf (or nan for a zero sum).
  const double denom = dof > 0 ? dof : 0.0;
  const Tensor xd = x.detach();
  const Tensor centered = sub(xd, mean(xd, dims, /*keepdim=*/true));  // (x - mean), x's shape
  Tensor out = div(sum(mul(centered, centered), dims, keepdim), denom);
  // d var / dx = 2 (x - mean) / (N - correction); the mean's own dependence on x sums to zero.
  record("var", {x}, {out},
         [centered, keep = keep_shape(x.shape(), reduced), scale = 2.0 / denom](const Grads& g, const Needs&) {
           return Grads{mul(mul(g[0].reshape(keep), centered), scale)};
         });
  return out;
}

Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int64_t lead = g.dim() - int64_t(shape.size());
  check(lead >= 0, "sum_to_shape: cannot reduce ", g.shape(), " to ", shape);
  std::vector<int64_t> dims(static_cast<size_t>(lead));
  std::iota(dims.begin(), dims.end(), 0);
  for (size_t d = 0; d < shape.size(); ++d) {
    const int64_t have = g.shape()[size_t(lead) + d];
    check(shape[d] == have || shape[d] == 1, "sum_to_shape: cannot reduce ", g.shape(), " to ", shape);
    if (shape[d] == 1 && have != 1) dims.push_back(lead + int64_t(d));
  }
  if (dims.empty()) return g.reshape(shape);
  return sum(g, dims, /*keepdim=*/true).reshape(shape);
}

}  // namespace hm
