// cosine_similarity: the broadcast is resolved with differentiable views (pad rank, move `dim` last, expand along
// it if needed), so the fused op itself only sees two contiguous row matrices A (Ra, D), B (Rb, D) and one (row of
// A, row of B) pair per output. For HuBERT's (T, 1, D) x (1, C, D) that is T + C rows, not T * C copies; the views'
// own backward passes (expand -> sum_to, permute, reshape) carry the row gradients back to a's and b's shapes.
// CUDA tensors take the same route, with the kernels of cosine_similarity@cuda (cuda/cosine.h).
#include "ops/similarity.h"

#include <algorithm>

#include "cpu/cosine.h"
#include "engine/autograd.h"
#include "ops/registry.h"

namespace hm {
namespace {

const OpRegistrar kSimilarityOps{"cosine_similarity"};

// t with rank raised to `rank` (leading 1s), `dim` moved last and broadcast along it to D, as contiguous rows.
Tensor as_rows(const Tensor& t, int64_t rank, int64_t dim, int64_t D) {
  Shape padded(size_t(rank - t.dim()), 1);
  padded.insert(padded.end(), t.shape().begin(), t.shape().end());
  std::vector<int64_t> perm;
  for (int64_t k = 0; k < rank; ++k)
    if (k != dim) perm.push_back(k);
  perm.push_back(dim);
  Tensor r = t.reshape(padded).permute(perm);
  if (r.size(-1) != D) {
    Shape s = r.shape();
    s.back() = D;
    r = r.expand(s);
  }
  return r.contiguous();
}

// Row of `rows` (outer shape `outer`, broadcast to `bshape`) for every output position, in row-major order.
Tensor row_index(const Shape& outer, const Shape& bshape) {
  const int64_t n = shape_numel(bshape);
  Tensor idx = empty({n}, DType::i64);  // (O)
  int64_t* p = idx.data<int64_t>();
  const Shape strides = contiguous_strides(outer);
  const int64_t rank = int64_t(bshape.size());
  std::vector<int64_t> pos(size_t(rank), 0);
  for (int64_t o = 0; o < n; ++o) {
    int64_t r = 0;
    for (int64_t k = 0; k < rank; ++k)
      if (outer[size_t(k)] != 1) r += pos[size_t(k)] * strides[size_t(k)];
    p[o] = r;
    for (int64_t k = rank - 1; k >= 0; --k) {
      if (++pos[size_t(k)] < bshape[size_t(k)]) break;
      pos[size_t(k)] = 0;
    }
  }
  return idx;
}

// Whether the outputs are every (row of A, row of B) pair in row-major order, read off the outer shapes: no dim
// where both sides have size > 1, and all of A's non-trivial dims before B's (+1: y is (Ra, Rb)) or after them
// (-1: y is (Rb, Ra)). 0 otherwise (the per-pair path with index lists).
int outer_layout(const Shape& outer_a, const Shape& outer_b) {
  int64_t last_a = -1, last_b = -1, first_a = int64_t(outer_a.size()), first_b = int64_t(outer_b.size());
  for (int64_t k = 0; k < int64_t(outer_a.size()); ++k) {
    const bool a = outer_a[size_t(k)] != 1, b = outer_b[size_t(k)] != 1;
    if (a && b) return 0;
    if (a) last_a = k, first_a = std::min(first_a, k);
    if (b) last_b = k, first_b = std::min(first_b, k);
  }
  if (last_a < first_b) return 1;
  if (last_b < first_a) return -1;
  return 0;
}

template <class T>
constexpr CosineFns<T> cpu_fns() {
  return {cpu::row_norms<T>, cpu::cosine_forward<T>, cpu::cosine_backward<T>, cpu::cosine_forward_outer<T>,
          cpu::cosine_backward_outer<T>};
}
const bool kRegScalar = (cosine_table().add("scalar", {cpu_fns<float>(), cpu_fns<double>()}, 0), true);

// The kernels of t's device, for compute type T.
template <class T>
CosineFns<T> cosine_fns(const Tensor& t) {
  const CosineKernels k = t.is_cuda() ? cosine_cuda_table().get() : cosine_table().get();
  if constexpr (sizeof(T) == sizeof(float)) {
    return k.f32;
  } else {
    return k.f64;
  }
}

}  // namespace

KernelTable<CosineKernels>& cosine_table() {
  static KernelTable<CosineKernels> table("cosine_similarity");
  return table;
}
KernelTable<CosineKernels>& cosine_cuda_table() {
  static KernelTable<CosineKernels> table("cosine_similarity", DeviceType::cuda);
  return table;
}

Tensor cosine_similarity(const Tensor& a, const Tensor& b, int64_t dim, double eps) {
  check(a.dtype() == b.dtype(), "cosine_similarity: dtype mismatch ", a.dtype(), " vs ", b.dtype());
  check(a.device() == b.device(), "cosine_similarity: ", a.shape(), " on ", a.device(), " but ", b.shape(), " on ",
        b.device());
  const int64_t rank = std::max(a.dim(), b.dim());
  check(rank >= 1, "cosine_similarity: inputs must have at least one dim");
  Shape bshape(static_cast<size_t>(rank));  // the broadcast shape of a and b
  for (int64_t k = 0; k < rank; ++k) {
    const int64_t ka = k - (rank - a.dim()), kb = k - (rank - b.dim());
    const int64_t sa = ka >= 0 ? a.size(ka) : 1, sb = kb >= 0 ? b.size(kb) : 1;
    check(sa == sb || sa == 1 || sb == 1, "cosine_similarity: shapes ", a.shape(), " and ", b.shape(),
          " do not broadcast (dim ", k, ": ", sa, " vs ", sb, ")");
    bshape[size_t(k)] = sa == 1 ? sb : sa;
  }
  const int64_t d = wrap_dim(dim, rank, "cosine_similarity");
  const int64_t D = bshape[size_t(d)];
  Shape out_shape = bshape;
  out_shape.erase(out_shape.begin() + d);

  const Tensor ar = as_rows(a, rank, d, D), br = as_rows(b, rank, d, D);  // (outer_a..., D), (outer_b..., D)
  const Shape outer_a(ar.shape().begin(), ar.shape().end() - 1), outer_b(br.shape().begin(), br.shape().end() - 1);
  const int64_t Ra = shape_numel(outer_a), Rb = shape_numel(outer_b), O = shape_numel(out_shape);
  const Tensor A = ar.reshape({Ra, D}), B = br.reshape({Rb, D});
  // (O) row of A / of B per output; not needed (left undefined) on the GEMM path.
  const int layout = outer_layout(outer_a, outer_b);
  // (O) row of A / of B per output, on the inputs' device; not needed (left undefined) on the GEMM path.
  const Device dev = a.device();
  const Tensor ia = layout == 0 ? row_index(outer_a, out_shape).to(dev) : Tensor();
  const Tensor ib = layout == 0 ? row_index(outer_b, out_shape).to(dev) : Tensor();

  Tensor y = empty({O}, a.dtype(), dev);
  Tensor na = empty({Ra}, a.dtype(), dev), nb = empty({Rb}, a.dtype(), dev);  // clamped row norms
  dispatch_float(a.dtype(), "cosine_similarity", [&](auto tag) {
    using T = decltype(tag);
    const CosineFns<T> k = cosine_fns<T>(A);
    k.row_norms(A.device_data<T>(), Ra, D, T(eps), na.device_data<T>());
    k.row_norms(B.device_data<T>(), Rb, D, T(eps), nb.device_data<T>());
    if (layout == 1)
      k.forward_outer(A.device_data<T>(), na.device_data<T>(), B.device_data<T>(), nb.device_data<T>(), Ra, Rb, D,
                      y.device_data<T>());
    else if (layout == -1)
      k.forward_outer(B.device_data<T>(), nb.device_data<T>(), A.device_data<T>(), na.device_data<T>(), Rb, Ra, D,
                      y.device_data<T>());
    else
      k.forward(A.device_data<T>(), na.device_data<T>(), B.device_data<T>(), nb.device_data<T>(),
                ia.device_data<int64_t>(), ib.device_data<int64_t>(), O, D, y.device_data<T>());
  });
  // Saved context: the rows, their clamped norms, the output (for the y * x / |x|^2 term) and the pairings.
  const Tensor Ad = A.detach(), Bd = B.detach(), yd = y.detach();
  record(
      "cosine_similarity", {A, B}, {y},
      [Ad, Bd, na, nb, yd, ia, ib, layout, O, Ra, Rb, D](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
        const Tensor dy = g[0].contiguous();
        Tensor dA = needs[0] ? empty({Ra, D}, Ad.dtype(), Ad.device()) : Tensor();
        Tensor dB = needs[1] ? empty({Rb, D}, Ad.dtype(), Ad.device()) : Tensor();
        dispatch_float(Ad.dtype(), "cosine_similarity backward", [&](auto tag) {
          using T = decltype(tag);
          const CosineFns<T> k = cosine_fns<T>(Ad);
          T* pdA = dA.defined() ? dA.device_data<T>() : nullptr;
          T* pdB = dB.defined() ? dB.device_data<T>() : nullptr;
          const T *pdy = dy.device_data<T>(), *py = yd.device_data<T>(), *pA = Ad.device_data<T>(),
                  *pB = Bd.device_data<T>(), *pna = na.device_data<T>(), *pnb = nb.device_data<T>();
          if (layout == 1)
            k.backward_outer(pdy, py, pA, pna, pB, pnb, Ra, Rb, D, pdA, pdB);
          else if (layout == -1)
            k.backward_outer(pdy, py, pB, pnb, pA, pna, Rb, Ra, D, pdB, pdA);
          else
            k.backward(pdy, py, pA, pna, pB, pnb, ia.device_data<int64_t>(), ib.device_data<int64_t>(), O, Ra, Rb, D,
                       pdA, pdB);
        });
        return std::vector<Tensor>{dA, dB};
      });
  return y.reshape(out_shape);
}

}  // namespace hm
