#include "ops/grad_scale.h"

#include "engine/autograd.h"
#include "engine/strided.h"
#include "ops/elementwise.h"
#include "ops/registry.h"

namespace hm {

namespace {
const OpRegistrar kRegistered{"scale_grad"};
}

Tensor scale_grad(const Tensor& x, double scale) {
  // The output must be a distinct tensor node (not a view of x) so that the tape routes its gradient here.
  Tensor y = x.detach();
  record("scale_grad", {x}, {y}, [scale](const std::vector<Tensor>& g, const std::vector<bool>&) {
    if (g[0].is_cuda()) return std::vector<Tensor>{mul(g[0], scale)};  // the scalar-multiply kernel, T(scale)
    Tensor out = empty(g[0].shape(), g[0].dtype());
    strided::copy(out, g[0]);
    dispatch_float(out.dtype(), "scale_grad", [&](auto tag) {
      using T = decltype(tag);
      T* p = out.data<T>();
      for (int64_t i = 0; i < out.numel(); ++i) p[i] = T(double(p[i]) * scale);
    });
    return std::vector<Tensor>{out};
  });
  return y;
}

}  // namespace hm
