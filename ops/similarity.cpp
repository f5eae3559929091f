// cosine_similarity: the broadcast is resolved with differentiable views (pad rank, move `dim` last, expand along
// it if needed), so the fused op itself only sees two contiguous row matrices A (Ra, D), B (Rb, D) and one (row of
// A, row of B) pair per output. For HuBERT's (T, 1, D) x (1, C, D) that is T + C rows, not T * C copies; the views'
// own backward passes (expand -> sum_to, permute, reshape) carry the row gradients back to a's and b's shapes.
// CUDA tensors take the same route with the kernels of cosine_similarity@cuda (cuda/cosine.h) and gemm@cuda.
#include "ops/similarity.h"

#include <algorithm>

#include "cpu/cosine.h"
#include "engine/autograd.h"
#include "engine/strided.h"
#include "ops/linear.h"
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

// ---- CUDA ----------------------------------------------------------------------------------------------------

template <class T>
CosineCudaFns<T> cosine_fns() {
  const CosineCudaKernels k = cosine_cuda_table().get();
  if constexpr (sizeof(T) == sizeof(float)) {
    return k.f32;
  } else {
    return k.f64;
  }
}

// Outputs grouped by the row they touch (a counting sort of idx, on the host where row_index built it): outputs
// of row r are order[start[r] .. start[r + 1]), ascending. Returned on `device` as (R + 1) and (O) int64.
std::pair<Tensor, Tensor> group_by_row(const Tensor& idx_host, int64_t R, Device device) {
  const int64_t O = idx_host.numel();
  const int64_t* idx = idx_host.data<int64_t>();
  Tensor start = zeros({R + 1}, DType::i64), order = empty({O}, DType::i64);
  int64_t* ps = start.data<int64_t>();
  int64_t* po = order.data<int64_t>();
  for (int64_t o = 0; o < O; ++o) ps[idx[o] + 1]++;
  for (int64_t r = 0; r < R; ++r) ps[r + 1] += ps[r];
  std::vector<int64_t> fill(ps, ps + R);
  for (int64_t o = 0; o < O; ++o) po[fill[size_t(idx[o])]++] = o;
  return {start.to(device), order.to(device)};
}

// cosine_similarity on CUDA tensors with the CPU path's rows A (Ra, D), B (Rb, D) and pairing (layout, and for
// layout 0 the host row indices ia / ib): the same kernels, GEMMs through gemm@cuda. Returns y (O).
Tensor cosine_cuda(const Tensor& A, const Tensor& B, int layout, const Tensor& ia, const Tensor& ib, int64_t Ra,
                   int64_t Rb, int64_t O, int64_t D, double eps) {
  const Device dev = A.device();
  const DType dt = A.dtype();
  const int64_t ld = std::max<int64_t>(1, D);
  Tensor y = empty({O}, dt, dev);
  Tensor na = empty({Ra}, dt, dev), nb = empty({Rb}, dt, dev);  // clamped row norms
  const Tensor ia_dev = layout == 0 ? ia.to(dev) : Tensor(), ib_dev = layout == 0 ? ib.to(dev) : Tensor();  // (O)
  dispatch_float(dt, "cosine_similarity (CUDA)", [&](auto tag) {
    using T = decltype(tag);
    const CosineCudaFns<T> k = cosine_fns<T>();
    k.row_norms(A.device_data<T>(), Ra, D, T(eps), na.device_data<T>());
    k.row_norms(B.device_data<T>(), Rb, D, T(eps), nb.device_data<T>());
    if (layout == 0) {
      k.forward_pairs(A.device_data<T>(), na.device_data<T>(), B.device_data<T>(), nb.device_data<T>(),
                      ia_dev.device_data<int64_t>(), ib_dev.device_data<int64_t>(), O, D, y.device_data<T>());
      return;
    }
    // y = (A / na) (B / nb)^T as one GEMM (y (Ra, Rb) for layout 1, (Rb, Ra) for -1), as cpu::cosine_forward_outer.
    Tensor an = empty({Ra, D}, dt, dev), bn = empty({Rb, D}, dt, dev);
    k.normalize_rows(A.device_data<T>(), na.device_data<T>(), Ra, D, an.device_data<T>());
    k.normalize_rows(B.device_data<T>(), nb.device_data<T>(), Rb, D, bn.device_data<T>());
    if (layout == 1)
      gemm_cuda(Ra, Rb, D, 1.0, {an, 0, false, ld}, {bn, 0, true, ld}, 0.0, {y, 0, false, std::max<int64_t>(1, Rb)});
    else
      gemm_cuda(Rb, Ra, D, 1.0, {bn, 0, false, ld}, {an, 0, true, ld}, 0.0, {y, 0, false, std::max<int64_t>(1, Ra)});
  });

  const Tensor Ad = A.detach(), Bd = B.detach(), yd = y.detach();
  record("cosine_similarity", {A, B}, {y},
         [=](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
           const Tensor dy = g[0].contiguous();  // (O)
           Tensor dA = needs[0] ? empty({Ra, D}, dt, dev) : Tensor();
           Tensor dB = needs[1] ? empty({Rb, D}, dt, dev) : Tensor();
           dispatch_float(dt, "cosine_similarity backward (CUDA)", [&](auto tag) {
             using T = decltype(tag);
             const CosineCudaFns<T> k = cosine_fns<T>();
             auto ptr = [](const Tensor& t) { return t.defined() ? t.device_data<T>() : nullptr; };
             if (layout == 0) {
               if (dA.defined()) {
                 const auto [start, order] = group_by_row(ia, Ra, dev);
                 k.backward_rows(ptr(dy), ptr(yd), ptr(Ad), ptr(na), ptr(Bd), ptr(nb), ib_dev.device_data<int64_t>(),
                                 start.device_data<int64_t>(), order.device_data<int64_t>(), Ra, D, ptr(dA));
               }
               if (dB.defined()) {
                 const auto [start, order] = group_by_row(ib, Rb, dev);
                 k.backward_rows(ptr(dy), ptr(yd), ptr(Bd), ptr(nb), ptr(Ad), ptr(na), ia_dev.device_data<int64_t>(),
                                 start.device_data<int64_t>(), order.device_data<int64_t>(), Rb, D, ptr(dB));
               }
               return;
             }
             // Outer layout (cpu::cosine_backward_outer): X indexes y's rows, Y its columns. With S = dy / (nx ny^T),
             //   dX = S Y - (rowsum(dy * y) / nx^2) X,   dY = S^T X - (colsum(dy * y) / ny^2) Y.
             const bool a_rows = layout == 1;
             const Tensor &X = a_rows ? Ad : Bd, &Y = a_rows ? Bd : Ad, &nx = a_rows ? na : nb, &ny = a_rows ? nb : na;
             const Tensor &dX = a_rows ? dA : dB, &dY = a_rows ? dB : dA;
             const int64_t Rx = a_rows ? Ra : Rb, Ry = a_rows ? Rb : Ra;
             if (Rx == 0 || Ry == 0 || D == 0) {  // empty products: the gradients are zero
               for (const Tensor& t : {dX, dY})
                 if (t.defined()) strided::fill(t, 0.0);
               return;
             }
             Tensor S = empty({Rx, Ry}, dt, dev), rs = empty({Rx}, dt, dev), cs = empty({Ry}, dt, dev);
             k.outer_scale(ptr(dy), ptr(yd), ptr(nx), ptr(ny), Rx, Ry, ptr(S), ptr(rs), ptr(cs));
             if (dX.defined()) {
               k.diagonal_term(ptr(X), ptr(nx), ptr(rs), Rx, D, ptr(dX));
               gemm_cuda(Rx, D, Ry, 1.0, {S, 0, false, Ry}, {Y, 0, false, D}, 1.0, {dX, 0, false, D});
             }
             if (dY.defined()) {
               k.diagonal_term(ptr(Y), ptr(ny), ptr(cs), Ry, D, ptr(dY));
               gemm_cuda(Ry, D, Rx, 1.0, {S, 0, true, Ry}, {X, 0, false, D}, 1.0, {dY, 0, false, D});
             }
           });
           return std::vector<Tensor>{dA, dB};
         });
  return y;
}

}  // namespace

KernelTable<CosineCudaKernels>& cosine_cuda_table() {
  static KernelTable<CosineCudaKernels> table("cosine_similarity", DeviceType::cuda);
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
  const Tensor ia = layout == 0 ? row_index(outer_a, out_shape) : Tensor();
  const Tensor ib = layout == 0 ? row_index(outer_b, out_shape) : Tensor();
  if (a.is_cuda()) return cosine_cuda(A, B, layout, ia, ib, Ra, Rb, O, D, eps).reshape(out_shape);

  Tensor y = empty({O}, a.dtype());
  Tensor na = empty({Ra}, a.dtype()), nb = empty({Rb}, a.dtype());  // clamped row norms
  dispatch_float(a.dtype(), "cosine_similarity", [&](auto tag) {
    using T = decltype(tag);
    cpu::row_norms<T>(A.data<T>(), Ra, D, T(eps), na.data<T>());
    cpu::row_norms<T>(B.data<T>(), Rb, D, T(eps), nb.data<T>());
    if (layout == 1)
      cpu::cosine_forward_outer<T>(A.data<T>(), na.data<T>(), B.data<T>(), nb.data<T>(), Ra, Rb, D, y.data<T>());
    else if (layout == -1)
      cpu::cosine_forward_outer<T>(B.data<T>(), nb.data<T>(), A.data<T>(), na.data<T>(), Rb, Ra, D, y.data<T>());
    else
      cpu::cosine_forward<T>(A.data<T>(), na.data<T>(), B.data<T>(), nb.data<T>(), ia.data<int64_t>(),
                             ib.data<int64_t>(), O, D, y.data<T>());
  });
  // Saved context: the rows, their clamped norms, the output (for the y * x / |x|^2 term) and the pairings.
  const Tensor Ad = A.detach(), Bd = B.detach(), yd = y.detach();
  record(
      "cosine_similarity", {A, B}, {y},
      [Ad, Bd, na, nb, yd, ia, ib, layout, O, Ra, Rb, D](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
        const Tensor dy = g[0].contiguous();
        Tensor dA = needs[0] ? empty({Ra, D}, Ad.dtype()) : Tensor();
        Tensor dB = needs[1] ? empty({Rb, D}, Ad.dtype()) : Tensor();
        dispatch_float(Ad.dtype(), "cosine_similarity backward", [&](auto tag) {
          using T = decltype(tag);
          T* pdA = dA.defined() ? dA.data<T>() : nullptr;
          T* pdB = dB.defined() ? dB.data<T>() : nullptr;
          if (layout == 1)
            cpu::cosine_backward_outer<T>(dy.data<T>(), yd.data<T>(), Ad.data<T>(), na.data<T>(), Bd.data<T>(),
                                          nb.data<T>(), Ra, Rb, D, pdA, pdB);
          else if (layout == -1)
            cpu::cosine_backward_outer<T>(dy.data<T>(), yd.data<T>(), Bd.data<T>(), nb.data<T>(), Ad.data<T>(),
                                          na.data<T>(), Rb, Ra, D, pdB, pdA);
          else
            cpu::cosine_backward<T>(dy.data<T>(), yd.data<T>(), Ad.data<T>(), na.data<T>(), Bd.data<T>(), nb.data<T>(),
                                    ia.data<int64_t>(), ib.data<int64_t>(), O, Ra, Rb, D, pdA, pdB);
        });
        return std::vector<Tensor>{dA, dB};
      });
  return y.reshape(out_shape);
}

}  // namespace hm
