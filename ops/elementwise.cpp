// Elementwise arithmetic: broadcasting, kernel selection (fast paths), and the backward of each op.
#include "ops/elementwise.h"

#include <algorithm>

#include "cpu/elementwise_parallel.h"
#include "cpu/elementwise_scalar.h"
#include "engine/autograd.h"
#include "ops/elementwise_tables.h"
#include "ops/reduce.h"
#include "ops/registry.h"

namespace hm {
namespace {

using cpu::BinaryOp;
using cpu::UnaryOp;
using Grads = std::vector<Tensor>;
using Needs = std::vector<bool>;

const OpRegistrar kOps{"add",         "sub",        "mul",        "div",         "add_scalar", "sub_scalar",
                       "rsub_scalar", "mul_scalar", "div_scalar", "rdiv_scalar", "neg",        "exp",
                       "log",         "sqrt",       "pow",        "where",       "masked_fill"};

// How an operand of shape `s` reaches the output shape `out` (both padded to out's rank with leading 1s; dims
// where out has size 1 carry no information and are skipped):
//   same:   the same elements in the same row-major order (shapes differ only by size-1 dims)
//   scalar: one element
//   row:    broadcast over leading dims, e.g. a bias (C) against (B, T, C)  -> rows x cols with b = (cols)
//   col:    broadcast over trailing dims, e.g. (B, T, 1) against (B, T, C)  -> rows x cols with b = (rows)
//   general: anything else (materialised with expand().contiguous())
enum class Layout { same, scalar, row, col, general };

// The most output dims (of size > 1) the CUDA strided broadcast kernel takes (cuda::kMaxBroadcastDims).
constexpr int kMaxCudaBroadcastDims = 8;

Layout classify(const Shape& s, const Shape& out, int64_t& rows, int64_t& cols) {
  const int64_t numel = shape_numel(s), out_numel = shape_numel(out);
  if (numel == out_numel) return Layout::same;
  if (numel == 1) return Layout::scalar;
  const size_t lead = out.size() - s.size();
  std::vector<bool> bcast;  // per dim of out with size != 1: is it broadcast in s?
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == 1) continue;
    const int64_t sd = d < lead ? 1 : s[d - lead];
    bcast.push_back(sd == 1);
  }
  // Count the switches between broadcast and matching runs; one switch means a row or a column layout.
  int switches = 0;
  for (size_t i = 1; i < bcast.size(); ++i) switches += bcast[i] != bcast[i - 1];
  if (switches != 1) return Layout::general;
  if (bcast.front()) {
    rows = out_numel / numel, cols = numel;
    return Layout::row;
  }
  rows = numel, cols = out_numel / numel;
  return Layout::col;
}

void check_pair(const Tensor& a, const Tensor& b, const char* name) {
  check(a.device() == b.device(), name, ": operands on different devices, ", a.device(), " and ", b.device(),
        " (shapes ", a.shape(), " and ", b.shape(), ")");
  check(a.dtype() == b.dtype(), name, ": dtype mismatch ", a.dtype(), " vs ", b.dtype(), " (shapes ", a.shape(),
        " and ", b.shape(), ")");
}

// out = a op b on the GPU. Contiguous operands of one shape take the `same` kernel, a contiguous operand against a
// contiguous bias row / per-row column the row / col kernels; anything else (scalars, general broadcasts, strided
// views) the strided broadcast kernel reading the expanded views in place, without materialising them.
template <class T>
void binary_cuda(BinaryOp op, const Tensor& a, const Tensor& b, const Shape& shape, const Tensor& out) {
  const BinaryCudaFns<T> k = binary_cuda_table<T>().get();
  T* po = out.device_data<T>();
  int64_t ra = 0, ca = 0, rb = 0, cb = 0;
  const Layout la = classify(a.shape(), shape, ra, ca), lb = classify(b.shape(), shape, rb, cb);
  const bool ac = a.is_contiguous(), bc = b.is_contiguous();
  if (la == Layout::same && lb == Layout::same && ac && bc)
    return k.same(op, a.device_data<T>(), b.device_data<T>(), po, out.numel());
  if (la == Layout::same && ac && bc && (lb == Layout::row || lb == Layout::col))
    return (lb == Layout::row ? k.row : k.col)(op, a.device_data<T>(), b.device_data<T>(), po, rb, cb);
  if (lb == Layout::same && ac && bc && (la == Layout::row || la == Layout::col))
    return (la == Layout::row ? k.row : k.col)(cpu::reversed(op), b.device_data<T>(), a.device_data<T>(), po, ra, ca);
  // expand() gives each operand's strides over the output shape (0 on broadcast dims); size-1 output dims drop out.
  const Tensor ae = a.expand(shape), be = b.expand(shape);
  Shape dims, sa, sb;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    dims.push_back(shape[d]), sa.push_back(ae.strides()[d]), sb.push_back(be.strides()[d]);
  }
  if (dims.size() <= size_t(kMaxCudaBroadcastDims))
    return k.broadcast(op, ae.device_data<T>(), be.device_data<T>(), po, int(dims.size()), dims.data(), sa.data(),
                       sb.data());
  const Tensor am = ae.contiguous(), bm = be.contiguous();  // more dims than the kernel takes: materialise
  k.same(op, am.device_data<T>(), bm.device_data<T>(), po, out.numel());
}

// out = a op b with broadcasting, no autograd.
Tensor binary_forward(BinaryOp op, const char* name, const Tensor& a_in, const Tensor& b_in) {
  check_pair(a_in, b_in, name);
  const Shape shape = broadcast_shapes(a_in.shape(), b_in.shape(), name);
  const Tensor a = a_in.detach(), b = b_in.detach();
  Tensor out = empty(shape, a.dtype(), a.device());
  dispatch_float(a.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    const int64_t n = out.numel();
    if (n == 0) return;
    if (a.is_cuda()) return binary_cuda<T>(op, a, b, shape, out);
    T* po = out.data<T>();
    int64_t ra = 0, ca = 0, rb = 0, cb = 0;
    const Layout la = classify(a.shape(), shape, ra, ca), lb = classify(b.shape(), shape, rb, cb);
    if (la == Layout::same && lb == Layout::same) {
      const Tensor ac = a.contiguous(), bc = b.contiguous();
      cpu::parallel_binary(binary_table<T>().get(), op, ac.data<T>(), bc.data<T>(), po, n);
    } else if (la == Layout::same && lb == Layout::scalar) {
      const Tensor ac = a.contiguous();
      cpu::parallel_binary_scalar(binary_scalar_table<T>().get(), op, ac.data<T>(), T(b.item()), po, n);
    } else if (la == Layout::scalar && lb == Layout::same) {
      const Tensor bc = b.contiguous();
      cpu::parallel_binary_scalar(binary_scalar_table<T>().get(), cpu::reversed(op), bc.data<T>(), T(a.item()), po, n);
    } else if (la == Layout::same && (lb == Layout::row || lb == Layout::col)) {
      const Tensor ac = a.contiguous(), bc = b.contiguous();
      if (lb == Layout::row)
        cpu::parallel_binary_row(binary_row_table<T>().get(), op, ac.data<T>(), bc.data<T>(), po, rb, cb);
      else
        cpu::parallel_binary_col(binary_col_table<T>().get(), op, ac.data<T>(), bc.data<T>(), po, rb, cb);
    } else if (lb == Layout::same && (la == Layout::row || la == Layout::col)) {
      const Tensor ac = a.contiguous(), bc = b.contiguous();
      const BinaryOp rop = cpu::reversed(op);
      if (la == Layout::row)
        cpu::parallel_binary_row(binary_row_table<T>().get(), rop, bc.data<T>(), ac.data<T>(), po, ra, ca);
      else
        cpu::parallel_binary_col(binary_col_table<T>().get(), rop, bc.data<T>(), ac.data<T>(), po, ra, ca);
    } else {
      const Tensor ae = a.expand(shape).contiguous(), be = b.expand(shape).contiguous();
      cpu::parallel_binary(binary_table<T>().get(), op, ae.data<T>(), be.data<T>(), po, n);
    }
  });
  return out;
}

// out = a op s for a scalar s, no autograd.
Tensor scalar_forward(BinaryOp op, const char* name, const Tensor& a_in, double s) {
  const Tensor a = a_in.detach().contiguous();
  Tensor out = empty(a.shape(), a.dtype(), a.device());
  dispatch_float(a.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    if (a.is_cuda())
      return binary_cuda_table<T>().get().scalar(op, a.device_data<T>(), T(s), out.device_data<T>(), a.numel());
    cpu::parallel_binary_scalar(binary_scalar_table<T>().get(), op, a.data<T>(), T(s), out.data<T>(), a.numel());
  });
  return out;
}

// Detached copy of t when `keep`, else nothing: what a backward needs, saved only when it will run.
Tensor save_if(bool keep, const Tensor& t) { return keep ? t.detach() : Tensor(); }

// out = cond ? a : b over the broadcast shape, no autograd.
Tensor where_forward(const char* name, const Tensor& cond, const Tensor& a, const Tensor& b, const Shape& shape) {
  check(cond.dtype() == DType::u8, name, ": the mask must be a uint8 tensor, got ", cond.dtype());
  check_pair(a, b, name);
  check(cond.device() == a.device(), name, ": the mask is on ", cond.device(), " but the values on ", a.device());
  Tensor out = empty(shape, a.dtype(), a.device());
  const Tensor c = cond.detach().expand(shape).contiguous();
  const Tensor av = a.detach().expand(shape).contiguous(), bv = b.detach().expand(shape).contiguous();
  dispatch_float(a.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    if (a.is_cuda())
      return binary_cuda_table<T>().get().where(c.device_data<uint8_t>(), av.device_data<T>(), bv.device_data<T>(),
                                                out.device_data<T>(), out.numel());
    const uint8_t* pc = c.data<uint8_t>();
    const T *pa = av.data<T>(), *pb = bv.data<T>();
    T* po = out.data<T>();
    cpu::parallel_for(out.numel(), 1,
                      [&](int64_t i0, int64_t i1) { cpu::scalar::where(pc + i0, pa + i0, pb + i0, po + i0, i1 - i0); });
  });
  return out;
}

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    check(da == db || da == 1 || db == 1, op, ": cannot broadcast ", a, " with ", b);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// ---- tensor op tensor ----

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::add, "add", a, b);
  record("add", {a, b}, {out}, [sa = a.shape(), sb = b.shape()](const Grads& g, const Needs& needs) {
    return Grads{needs[0] ? sum_to_shape(g[0], sa) : Tensor(), needs[1] ? sum_to_shape(g[0], sb) : Tensor()};
  });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::sub, "sub", a, b);
  record("sub", {a, b}, {out}, [sa = a.shape(), sb = b.shape()](const Grads& g, const Needs& needs) {
    return Grads{needs[0] ? sum_to_shape(g[0], sa) : Tensor(), needs[1] ? neg(sum_to_shape(g[0], sb)) : Tensor()};
  });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::mul, "mul", a, b);
  // d(ab)/da = b, d(ab)/db = a: each operand is saved only when the other one needs a gradient.
  record("mul", {a, b}, {out},
         [sa = save_if(b.requires_grad(), a), sb = save_if(a.requires_grad(), b), shape_a = a.shape(),
          shape_b = b.shape()](const Grads& g, const Needs& needs) {
           return Grads{needs[0] ? sum_to_shape(mul(g[0], sb), shape_a) : Tensor(),
                        needs[1] ? sum_to_shape(mul(g[0], sa), shape_b) : Tensor()};
         });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::div, "div", a, b);
  // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 = -out/b.
  record("div", {a, b}, {out},
         [sb = b.detach(), so = save_if(b.requires_grad(), out), shape_a = a.shape(), shape_b = b.shape()](
             const Grads& g, const Needs& needs) {
           return Grads{needs[0] ? sum_to_shape(div(g[0], sb), shape_a) : Tensor(),
                        needs[1] ? sum_to_shape(neg(div(mul(g[0], so), sb)), shape_b) : Tensor()};
         });
  return out;
}

// ---- tensor op scalar ----

Tensor add(const Tensor& a, double s) {
  Tensor out = scalar_forward(BinaryOp::add, "add_scalar", a, s);
  record("add_scalar", {a}, {out}, [](const Grads& g, const Needs&) { return Grads{g[0]}; });
  return out;
}
Tensor add(double s, const Tensor& a) { return add(a, s); }

Tensor sub(const Tensor& a, double s) {
  Tensor out = scalar_forward(BinaryOp::sub, "sub_scalar", a, s);
  record("sub_scalar", {a}, {out}, [](const Grads& g, const Needs&) { return Grads{g[0]}; });
  return out;
}

Tensor sub(double s, const Tensor& a) {
  Tensor out = scalar_forward(BinaryOp::rsub, "rsub_scalar", a, s);
  record("rsub_scalar", {a}, {out}, [](const Grads& g, const Needs&) { return Grads{neg(g[0])}; });
  return out;
}

Tensor mul(const Tensor& a, double s) {
  Tensor out = scalar_forward(BinaryOp::mul, "mul_scalar", a, s);
  record("mul_scalar", {a}, {out}, [s](const Grads& g, const Needs&) { return Grads{mul(g[0], s)}; });
  return out;
}
Tensor mul(double s, const Tensor& a) { return mul(a, s); }

Tensor div(const Tensor& a, double s) {
  Tensor out = scalar_forward(BinaryOp::div, "div_scalar", a, s);
  record("div_scalar", {a}, {out}, [s](const Grads& g, const Needs&) { return Grads{div(g[0], s)}; });
  return out;
}

Tensor div(double s, const Tensor& a) {
  Tensor out = scalar_forward(BinaryOp::rdiv, "rdiv_scalar", a, s);
  // d(s/a)/da = -s/a^2 = -out/a
  record("rdiv_scalar", {a}, {out}, [sa = a.detach(), so = out.detach()](const Grads& g, const Needs&) {
    return Grads{neg(div(mul(g[0], so), sa))};
  });
  return out;
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double s) { return add(a, s); }
Tensor operator+(double s, const Tensor& a) { return add(s, a); }
Tensor operator-(const Tensor& a, double s) { return sub(a, s); }
Tensor operator-(double s, const Tensor& a) { return sub(s, a); }
Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
Tensor operator*(double s, const Tensor& a) { return mul(s, a); }
Tensor operator/(const Tensor& a, double s) { return div(a, s); }
Tensor operator/(double s, const Tensor& a) { return div(s, a); }
Tensor operator-(const Tensor& a) { return neg(a); }

// ---- unary ----

namespace detail {

Tensor unary_op(UnaryOp op, const char* name, const Tensor& x_in, double param) {
  const Tensor x = x_in.detach().contiguous();
  Tensor y = empty(x.shape(), x.dtype(), x.device());
  dispatch_float(x.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    if (x.is_cuda())
      return unary_cuda_table<T>().get().forward(op, x.device_data<T>(), y.device_data<T>(), x.numel(), T(param));
    cpu::parallel_unary(unary_table<T>().get(), op, x.data<T>(), y.data<T>(), x.numel(), T(param));
  });
  if (!any_requires_grad({x_in})) return y;
  // Saved context: only the value the derivative reads (cpu::backward_reads), detached so that y's own graph
  // node does not keep y alive through its backward closure.
  const cpu::BackwardReads reads = cpu::backward_reads(op);
  const Tensor saved = reads == cpu::BackwardReads::input    ? x
                       : reads == cpu::BackwardReads::output ? y.detach()
                                                             : Tensor();
  record(name, {x_in}, {y}, [op, name, reads, saved, param](const Grads& g, const Needs&) {
    const Tensor gy = g[0].contiguous();
    Tensor gx = empty(gy.shape(), gy.dtype(), gy.device());
    dispatch_float(gy.dtype(), name, [&](auto tag) {
      using T = decltype(tag);
      if (gy.is_cuda()) {
        const T* px = reads == cpu::BackwardReads::input ? saved.device_data<T>() : nullptr;
        const T* py = reads == cpu::BackwardReads::output ? saved.device_data<T>() : nullptr;
        return unary_cuda_table<T>().get().backward(op, px, py, gy.device_data<T>(), gx.device_data<T>(), gx.numel(),
                                                    T(param));
      }
      const T* px = reads == cpu::BackwardReads::input ? saved.data<T>() : nullptr;
      const T* py = reads == cpu::BackwardReads::output ? saved.data<T>() : nullptr;
      cpu::parallel_unary_backward(unary_backward_table<T>().get(), op, px, py, gy.data<T>(), gx.data<T>(), gx.numel(),
                                   T(param));
    });
    return Grads{gx};
  });
  return y;
}

}  // namespace detail

Tensor neg(const Tensor& x) { return detail::unary_op(UnaryOp::neg, "neg", x); }
Tensor exp(const Tensor& x) { return detail::unary_op(UnaryOp::exp, "exp", x); }
Tensor log(const Tensor& x) { return detail::unary_op(UnaryOp::log, "log", x); }
Tensor sqrt(const Tensor& x) { return detail::unary_op(UnaryOp::sqrt, "sqrt", x); }
Tensor pow(const Tensor& x, double exponent) { return detail::unary_op(UnaryOp::pow, "pow", x, exponent); }

// ---- selection ----

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = where_forward("where", cond, a, b, shape);
  record("where", {a, b}, {out},
         [c = cond.detach(), shape_a = a.shape(), shape_b = b.shape()](const Grads& g, const Needs& needs) {
           const Tensor zero = zeros({}, g[0].dtype(), g[0].device());
           return Grads{needs[0] ? sum_to_shape(where(c, g[0], zero), shape_a) : Tensor(),
                        needs[1] ? sum_to_shape(where(c, zero, g[0]), shape_b) : Tensor()};
         });
  return out;
}

Tensor masked_fill(const Tensor& t, const Tensor& mask, double value) {
  const Shape shape = broadcast_shapes(mask.shape(), t.shape(), "masked_fill");
  check(shape == t.shape(), "masked_fill: mask of shape ", mask.shape(), " does not broadcast to the tensor's shape ",
        t.shape());
  Tensor out = where_forward("masked_fill", mask, full({}, value, t.dtype(), t.device()), t, shape);
  record("masked_fill", {t}, {out}, [m = mask.detach()](const Grads& g, const Needs&) {
    return Grads{where(m, zeros({}, g[0].dtype(), g[0].device()), g[0])};
  });
  return out;
}

}  // namespace hm
