#include "ops/grad_scale.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

TEST(ScaleGrad, IdentityForwardScaledBackward) {
  Tensor x = randn_param({3, 5}, 11);
  Tensor y = scale_grad(x, 0.1);
  EXPECT_EQ(y.to_vector<double>(), x.to_vector<double>());
  y.backward(ones({3, 5}, DType::f64));
  for (double g : x.grad().to_vector<double>()) EXPECT_DOUBLE_EQ(g, 0.1);
  // With scale 1 it is exactly the identity, so the numeric gradient check applies.
  Tensor z = randn_param({4, 3}, 12);
  expect_gradcheck("scale_grad", [](const std::vector<Tensor>& in) { return scale_grad(in[0], 1.0); }, {z});
}

}  // namespace
}  // namespace hm::test
