#include "ops/softmax.h"

#include "cpu/elementwise_parallel.h"
#include "engine/autograd.h"
#include "ops/elementwise_tables.h"
#include "ops/registry.h"

namespace hm {
namespace {

using cpu::SoftmaxOp;
using Grads = std::vector<Tensor>;
using Needs = std::vector<bool>;

const OpRegistrar kOps{"softmax", "log_softmax", "logsumexp"};

// The (rows, cols) layout of the row kernels: `dim` of a tensor of shape `shape` moved last.
struct LastDim {
  LastDim(const Shape& shape, int64_t dim_in, const char* op) {
    view_shape = shape.empty() ? Shape{1} : shape;  // a 0-d tensor is one row of one element
    const int64_t rank = int64_t(view_shape.size());
    dim = wrap_dim(dim_in, rank, op);
    for (int64_t d = 0; d < rank; ++d)
      if (d != dim) perm.push_back(d);
    perm.push_back(dim);
    inverse.resize(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) inverse[size_t(perm[i])] = int64_t(i);
    cols = view_shape[size_t(dim)];
    rows = cols ? shape_numel(view_shape) / cols : 0;
  }
  bool is_last() const { return dim == int64_t(view_shape.size()) - 1; }
  // t (of the op's input/output shape) -> contiguous (rows, cols) layout.
  Tensor to_rows(const Tensor& t) const {
    const Tensor v = t.reshape(view_shape);
    return is_last() ? v.contiguous() : v.permute(perm).contiguous();
  }
  // (rows, cols) layout -> contiguous tensor of `shape`.
  Tensor from_rows(const Tensor& t, const Shape& shape) const {
    return (is_last() ? t : t.permute(inverse).contiguous()).reshape(shape);
  }
  Shape view_shape;
  int64_t dim = 0, rows = 0, cols = 0;
  std::vector<int64_t> perm, inverse;
};

Tensor softmax_like(SoftmaxOp op, const char* name, const Tensor& x, int64_t dim) {
  const LastDim layout(x.shape(), dim, name);
  const Tensor xp = layout.to_rows(x.detach());            // (rows, cols)
  Tensor yp = empty(xp.shape(), xp.dtype(), xp.device());  // (rows, cols)
  dispatch_float(x.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    if (xp.is_cuda())
      return softmax_cuda_table<T>().get().forward(op, xp.device_data<T>(), yp.device_data<T>(), layout.rows,
                                                   layout.cols);
    cpu::parallel_softmax(softmax_table<T>().get(), op, xp.data<T>(), yp.data<T>(), layout.rows, layout.cols);
  });
  Tensor out = layout.from_rows(yp, x.shape());
  record(name, {x}, {out}, [op, name, layout, yp = yp.detach()](const Grads& g, const Needs&) {
    const Tensor gp = layout.to_rows(g[0]);
    Tensor gxp = empty(gp.shape(), gp.dtype(), gp.device());
    dispatch_float(gp.dtype(), name, [&](auto tag) {
      using T = decltype(tag);
      if (gp.is_cuda())
        return softmax_cuda_table<T>().get().backward(op, yp.device_data<T>(), gp.device_data<T>(),
                                                      gxp.device_data<T>(), layout.rows, layout.cols);
      cpu::parallel_softmax_backward(softmax_backward_table<T>().get(), op, yp.data<T>(), gp.data<T>(), gxp.data<T>(),
                                     layout.rows, layout.cols);
    });
    return Grads{layout.from_rows(gxp, g[0].shape())};
  });
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_like(SoftmaxOp::softmax, "softmax", x, dim); }

Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_like(SoftmaxOp::log_softmax, "log_softmax", x, dim); }

Tensor logsumexp(const Tensor& x, int64_t dim, bool keepdim) {
  const LastDim layout(x.shape(), dim, "logsumexp");
  const Tensor xp = layout.to_rows(x.detach());  // (rows, cols)
  Shape out_shape = layout.view_shape;
  if (keepdim)
    out_shape[size_t(layout.dim)] = 1;
  else
    out_shape.erase(out_shape.begin() + layout.dim);
  if (x.dim() == 0) out_shape = {};
  Tensor out = empty(out_shape, x.dtype(), x.device());  // (rows) in row-major order of the kept dims
  dispatch_float(x.dtype(), "logsumexp", [&](auto tag) {
    using T = decltype(tag);
    if (xp.is_cuda())
      return softmax_cuda_table<T>().get().forward(SoftmaxOp::logsumexp, xp.device_data<T>(), out.device_data<T>(),
                                                   layout.rows, layout.cols);
    cpu::parallel_softmax(softmax_table<T>().get(), SoftmaxOp::logsumexp, xp.data<T>(), out.data<T>(), layout.rows,
                          layout.cols);
  });
  // d logsumexp / dx = softmax(x): recomputed from the saved input rows, then scaled by each row's gradient.
  record("logsumexp", {x}, {out}, [layout, xp, in_shape = x.shape()](const Grads& g, const Needs&) {
    const Tensor gr = g[0].contiguous();  // (rows)
    Tensor s = empty(xp.shape(), xp.dtype(), xp.device());
    dispatch_float(xp.dtype(), "logsumexp", [&](auto tag) {
      using T = decltype(tag);
      if (xp.is_cuda()) {
        softmax_cuda_table<T>().get().forward(SoftmaxOp::softmax, xp.device_data<T>(), s.device_data<T>(), layout.rows,
                                              layout.cols);
        return binary_cuda_table<T>().get().col(cpu::BinaryOp::mul, s.device_data<T>(), gr.device_data<T>(),
                                                s.device_data<T>(), layout.rows, layout.cols);
      }
      cpu::parallel_softmax(softmax_table<T>().get(), SoftmaxOp::softmax, xp.data<T>(), s.data<T>(), layout.rows,
                            layout.cols);
      cpu::parallel_binary_col(binary_col_table<T>().get(), cpu::BinaryOp::mul, s.data<T>(), gr.data<T>(), s.data<T>(),
                               layout.rows, layout.cols);
    });
    return Grads{layout.from_rows(s, in_shape)};
  });
  return out;
}

}  // namespace hm
