// GLU op: Tensor -> pointers and autograd recording; kernels in cpu/glu.cpp.
#include "ops/glu.h"

#include "cpu/glu.h"
#include "engine/autograd.h"
#include "ops/registry.h"

namespace hm {
namespace {
const OpRegistrar kGluOps{"glu"};
}

Tensor glu(const Tensor& x_in, int64_t dim) {
  check(x_in.dim() >= 1, "glu: input must have at least one dim, got a scalar");
  const int64_t d = wrap_dim(dim, x_in.dim(), "glu");
  const int64_t two_h = x_in.size(d);
  check(two_h % 2 == 0, "glu: halving dimension must be even, but dim ", d, " of input ", x_in.shape(), " has size ",
        two_h);
  const Tensor x = x_in.contiguous();
  int64_t P = 1, Q = 1;  // x viewed as (P, 2H, Q)
  for (int64_t k = 0; k < d; ++k) P *= x.size(k);
  for (int64_t k = d + 1; k < x.dim(); ++k) Q *= x.size(k);
  const int64_t H = two_h / 2;
  Shape out_shape = x.shape();
  out_shape[size_t(d)] = H;
  Tensor y = empty(out_shape, x.dtype());  // (P, H, Q)
  dispatch_float(x.dtype(), "glu", [&](auto tag) {
    using T = decltype(tag);
    cpu::glu_forward<T>(x.data<T>(), P, H, Q, y.data<T>());
  });
  // Saved context: x only (the gate is recomputed in backward).
  record("glu", {x}, {y}, [x, P, H, Q](const std::vector<Tensor>& g, const std::vector<bool>&) {
    const Tensor dy = g[0].contiguous();
    Tensor dx = empty_like(x);
    dispatch_float(x.dtype(), "glu backward", [&](auto tag) {
      using T = decltype(tag);
      cpu::glu_backward<T>(dy.data<T>(), x.data<T>(), P, H, Q, dx.data<T>());
    });
    return std::vector<Tensor>{dx};
  });
  return y;
}

}  // namespace hm
