#include "ops/random_ops.h"

#include "cpu/elementwise_scalar.h"
#include "engine/autograd.h"
#include "ops/elementwise.h"
#include "ops/registry.h"

namespace hm {
namespace {
const OpRegistrar kOps{"dropout"};
}

Tensor dropout(const Tensor& x_in, double p, bool training, Generator& gen) {
  check(p >= 0.0 && p <= 1.0, "dropout: probability must be in [0, 1], got ", p);
  if (!training || p == 0.0) return x_in;
  const Tensor x = x_in.detach().contiguous();
  Tensor y = empty(x.shape(), x.dtype());
  Tensor mask = empty(x.shape(), x.dtype());  // 0 or 1 / (1 - p): the backward is g * mask
  dispatch_float(x.dtype(), "dropout", [&](auto tag) {
    using T = decltype(tag);
    const uint64_t counter = gen.reserve(uint64_t((x.numel() + 3) / 4));
    cpu::scalar::dropout(x.data<T>(), y.data<T>(), mask.data<T>(), x.numel(), p, gen.seed(), counter);
  });
  record("dropout", {x_in}, {y}, [mask](const std::vector<Tensor>& g, const std::vector<bool>&) {
    return std::vector<Tensor>{mul(g[0], mask)};
  });
  return y;
}

}  // namespace hm
