// The elementwise / activation / reduction / softmax / dropout / GLU / scale_grad ops on CUDA tensors against the
// same ops on the CPU: forward values and the gradients of every input (autograd through the CUDA backward paths),
// broadcasting layouts, strided views, the dropout mask for one Generator state, and the errors for mixed devices and
// unsupported dtypes. Tests skip with "skipped: no GPU" without one. Float64 inputs, so the comparison is tight
// (1e-10 relative to max |reference|); one float32 pass checks the f32 instantiations.
#include <cmath>
#include <functional>

#include "engine/strided.h"
#include "ops/grad_scale.h"
#include "ops/ops.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// |got - ref| <= rtol * max|ref| (+ NaN where ref is NaN, identical infinities).
::testing::AssertionResult matches(const Tensor& got, const Tensor& ref, double rtol) {
  if (got.shape() != ref.shape())
    return ::testing::AssertionFailure() << "shape " << shape_str(got.shape()) << " vs " << shape_str(ref.shape());
  const std::vector<double> g = got.to_vector<double>(), r = ref.to_vector<double>();
  double scale = 0;
  for (double v : r)
    if (std::isfinite(v)) scale = std::max(scale, std::abs(v));
  const double tol = rtol * std::max(scale, 1e-300);
  for (size_t i = 0; i < r.size(); ++i) {
    const bool ok = std::isnan(r[i])   ? std::isnan(g[i])
                    : std::isinf(r[i]) ? g[i] == r[i]
                                       : std::abs(g[i] - r[i]) <= tol;
    if (!ok)
      return ::testing::AssertionFailure() << "element " << i << " of shape " << shape_str(ref.shape()) << ": got "
                                           << g[i] << ", reference " << r[i] << " (tolerance " << tol << ")";
  }
  return ::testing::AssertionSuccess();
}

// f on host leaves and on device copies of them: the outputs agree, the output is on the GPU, and so do the
// gradients of every input (each on its input's device) for the same random output gradient.
void expect_gpu_matches_cpu(const std::string& what, const Fn& f, const std::vector<Tensor>& inputs,
                            double rtol = 1e-10) {
  SCOPED_TRACE(what);
  std::vector<Tensor> hin, din;
  for (const Tensor& t : inputs) {
    Tensor h = t.detach().clone(), d = t.detach().to(Device::cuda());
    h.requires_grad_(true), d.requires_grad_(true);
    hin.push_back(h), din.push_back(d);
  }
  const Tensor yh = f(hin), yd = f(din);
  ASSERT_TRUE(yd.is_cuda()) << "output not on the GPU";
  EXPECT_TRUE(matches(yd, yh, rtol)) << "forward";
  Generator gen(99);
  const Tensor w = randn(yh.shape(), yh.dtype(), gen);
  yh.backward(w);
  yd.backward(w.to(Device::cuda()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_TRUE(din[i].grad().defined()) << "no gradient for input " << i;
    EXPECT_TRUE(din[i].grad().is_cuda()) << "gradient of input " << i << " not on the GPU";
    EXPECT_TRUE(matches(din[i].grad(), hin[i].grad(), rtol)) << "gradient of input " << i;
  }
}

Tensor rnd(const Shape& s, uint64_t seed, DType dt = DType::f64) {
  Generator gen(seed);
  return randn(s, DType::f64, gen).to(dt);
}
Tensor positive(const Shape& s, uint64_t seed) {
  const Tensor r = rnd(s, seed);
  return add(mul(r, r), 0.1);
}

TEST(CudaElementwiseOps, BinaryBroadcastLayouts) {
  HM_SKIP_WITHOUT_CUDA();
  // same, scalar on either side, bias row, per-row column, general broadcast on both sides, > 8 output dims.
  const std::vector<std::pair<Shape, Shape>> shapes = {{{3, 5, 7}, {3, 5, 7}},
                                                       {{3, 5, 7}, {}},
                                                       {{1}, {4, 9}},
                                                       {{6, 10}, {10}},
                                                       {{6, 10, 3}, {6, 1, 1}},
                                                       {{4, 1, 6}, {5, 1}},
                                                       {{2, 1, 3, 1, 2}, {1, 4, 1, 5, 1}},
                                                       {{2, 1, 2, 1, 2, 1, 2, 1, 2}, {1, 2, 1, 2, 1, 2, 1, 2, 1}}};
  for (const auto& [sa, sb] : shapes) {
    const std::string tag = shape_str(sa) + " with " + shape_str(sb);
    const Tensor a = rnd(sa, 1), b = positive(sb, 2);
    expect_gpu_matches_cpu("add " + tag, [](const auto& v) { return add(v[0], v[1]); }, {a, b});
    expect_gpu_matches_cpu("sub " + tag, [](const auto& v) { return sub(v[1], v[0]); }, {a, b});
    expect_gpu_matches_cpu("mul " + tag, [](const auto& v) { return mul(v[0], v[1]); }, {a, b});
    expect_gpu_matches_cpu("div " + tag, [](const auto& v) { return div(v[0], v[1]); }, {a, b});
  }
  // Strided views (transposed, flipped) go through the strided kernel without a copy.
  expect_gpu_matches_cpu("mul of views", [](const auto& v) { return mul(v[0].transpose(0, 1), v[1].flip({1})); },
                         {rnd({7, 5}, 3), rnd({5, 7}, 4)});
  // float32
  expect_gpu_matches_cpu(
      "f32 add bias", [](const auto& v) { return add(v[0], v[1]); },
      {rnd({33, 65}, 5, DType::f32), rnd({65}, 6, DType::f32)}, 1e-6);
}

TEST(CudaElementwiseOps, ScalarOps) {
  HM_SKIP_WITHOUT_CUDA();
  const Tensor x = positive({4, 9}, 7);
  expect_gpu_matches_cpu("add_scalar", [](const auto& v) { return add(v[0], 1.5); }, {x});
  expect_gpu_matches_cpu("sub_scalar", [](const auto& v) { return sub(v[0], 1.5); }, {x});
  expect_gpu_matches_cpu("rsub_scalar", [](const auto& v) { return sub(1.5, v[0]); }, {x});
  expect_gpu_matches_cpu("mul_scalar", [](const auto& v) { return mul(v[0], -2.5); }, {x});
  expect_gpu_matches_cpu("div_scalar", [](const auto& v) { return div(v[0], 3.0); }, {x});
  expect_gpu_matches_cpu("rdiv_scalar", [](const auto& v) { return div(3.0, v[0]); }, {x});
}

TEST(CudaElementwiseOps, UnaryAndActivations) {
  HM_SKIP_WITHOUT_CUDA();
  const Tensor x = mul(rnd({5, 37}, 8), 6.0), p = positive({5, 37}, 9);
  expect_gpu_matches_cpu("neg", [](const auto& v) { return neg(v[0]); }, {x});
  expect_gpu_matches_cpu("exp", [](const auto& v) { return exp(v[0]); }, {x});
  expect_gpu_matches_cpu("log", [](const auto& v) { return log(v[0]); }, {p});
  expect_gpu_matches_cpu("sqrt", [](const auto& v) { return sqrt(v[0]); }, {p});
  expect_gpu_matches_cpu("pow", [](const auto& v) { return pow(v[0], 2.5); }, {p});
  expect_gpu_matches_cpu("tanh", [](const auto& v) { return tanh(v[0]); }, {x});
  expect_gpu_matches_cpu("sigmoid", [](const auto& v) { return sigmoid(v[0]); }, {x});
  expect_gpu_matches_cpu("relu", [](const auto& v) { return relu(v[0]); }, {x});
  expect_gpu_matches_cpu("gelu", [](const auto& v) { return gelu(v[0]); }, {x});
  expect_gpu_matches_cpu("silu", [](const auto& v) { return silu(v[0]); }, {x});
  expect_gpu_matches_cpu("softplus", [](const auto& v) { return softplus(mul(v[0], 5.0)); }, {x});  // both sides of 20
  expect_gpu_matches_cpu(
      "f32 gelu", [](const auto& v) { return gelu(v[0]); }, {x.to(DType::f32)}, 1e-6);
}

TEST(CudaElementwiseOps, WhereAndMaskedFill) {
  HM_SKIP_WITHOUT_CUDA();
  std::vector<uint8_t> m(4 * 6);
  for (size_t i = 0; i < m.size(); ++i) m[i] = uint8_t(i % 3 == 1);
  const Tensor mask = from_vector(m, {4, 6}), gmask = mask.to(Device::cuda());
  const Tensor a = rnd({4, 6}, 10), b = rnd({6}, 11);
  const Tensor yh = where(mask, a, b);
  EXPECT_TRUE(matches(where(gmask, a.to(Device::cuda()), b.to(Device::cuda())), yh, 0));
  // Gradients: each device's lambda uses the mask on its own device.
  expect_gpu_matches_cpu("where", [&](const auto& v) { return where(v[0].is_cuda() ? gmask : mask, v[0], v[1]); },
                         {a, b});
  expect_gpu_matches_cpu("masked_fill",
                         [&](const auto& v) { return masked_fill(v[0], v[0].is_cuda() ? gmask : mask, -3.0); }, {a});
}

TEST(CudaElementwiseOps, Reductions) {
  HM_SKIP_WITHOUT_CUDA();
  const Tensor x = rnd({4, 5, 6, 7}, 12);
  // [R], [K, R], [R, K], [K1, R, K2], interleaved, nothing of size > 1 reduced.
  const std::vector<std::vector<int64_t>> dim_lists = {{}, {3}, {2, 3}, {0}, {0, 1}, {1}, {1, 2}, {0, 2}, {1, 3}};
  for (const auto& dims : dim_lists)
    for (bool keep : {false, true}) {
      const std::string tag = "dims " + shape_str(dims) + (keep ? " keepdim" : "");
      expect_gpu_matches_cpu("sum " + tag, [&](const auto& v) { return sum(v[0], dims, keep); }, {x});
      expect_gpu_matches_cpu("mean " + tag, [&](const auto& v) { return mean(v[0], dims, keep); }, {x});
      expect_gpu_matches_cpu("max " + tag, [&](const auto& v) { return max(v[0], dims, keep); }, {x});
      expect_gpu_matches_cpu("var " + tag, [&](const auto& v) { return var(v[0], dims, 1, keep); }, {x});
    }
  expect_gpu_matches_cpu("sum of size-1 dim", [](const auto& v) { return sum(v[0], {1}); }, {rnd({3, 1, 4}, 13)});
  expect_gpu_matches_cpu("sum_to_shape",
                         [](const auto& v) {
                           return sum_to_shape(v[0], {5, 1, 7});
                         },
                         {rnd({3, 5, 6, 7}, 14)});
  expect_gpu_matches_cpu(
      "f32 sum",
      [](const auto& v) {
        return sum(v[0], {0, 2});
      },
      {x.to(DType::f32)}, 1e-5);
}

TEST(CudaElementwiseOps, SoftmaxFamily) {
  HM_SKIP_WITHOUT_CUDA();
  const Tensor x = mul(rnd({3, 4, 1100}, 15), 3.0);  // a last dim above the warp-per-row limit
  for (int64_t dim : {0, 1, -1}) {
    const std::string tag = "dim " + std::to_string(dim);
    expect_gpu_matches_cpu("softmax " + tag, [&](const auto& v) { return softmax(v[0], dim); }, {x});
    expect_gpu_matches_cpu("log_softmax " + tag, [&](const auto& v) { return log_softmax(v[0], dim); }, {x});
    expect_gpu_matches_cpu("logsumexp " + tag, [&](const auto& v) { return logsumexp(v[0], dim); }, {x});
    expect_gpu_matches_cpu("logsumexp keepdim " + tag, [&](const auto& v) { return logsumexp(v[0], dim, true); }, {x});
  }
  expect_gpu_matches_cpu(
      "f32 softmax", [](const auto& v) { return softmax(v[0], -1); }, {x.to(DType::f32)}, 1e-5);
}

TEST(CudaElementwiseOps, GluAndScaleGrad) {
  HM_SKIP_WITHOUT_CUDA();
  const Tensor x = mul(rnd({4, 8, 6}, 16), 4.0);
  for (int64_t dim : {0, 1, -1})
    expect_gpu_matches_cpu("glu dim " + std::to_string(dim), [&](const auto& v) { return glu(v[0], dim); }, {x});
  expect_gpu_matches_cpu("scale_grad", [](const auto& v) { return mul(scale_grad(v[0], 0.1), v[0]); }, {x});
}

TEST(CudaElementwiseOps, DropoutSameMaskAsCpu) {
  HM_SKIP_WITHOUT_CUDA();
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor x = rnd({7, 1001}, 17, dt);
    Generator gc(1234), gg(1234);
    gc.reserve(5), gg.reserve(5);  // a non-zero offset
    Tensor hc = x.clone(), hg = x.to(Device::cuda());
    hc.requires_grad_(true), hg.requires_grad_(true);
    const Tensor yc = dropout(hc, 0.3, true, gc), yg = dropout(hg, 0.3, true, gg);
    ASSERT_TRUE(yg.is_cuda());
    EXPECT_EQ(gg.offset(), gc.offset()) << "both consumed ceil(n / 4) counters";
    EXPECT_EQ(yg.to_vector<double>(), yc.to_vector<double>()) << dt;
    const Tensor w = rnd(x.shape(), 18, dt);
    yc.backward(w), yg.backward(w.to(Device::cuda()));
    EXPECT_EQ(hg.grad().to_vector<double>(), hc.grad().to_vector<double>()) << dt;
  }
}

TEST(CudaElementwiseOps, MixedDevicesAndDtypesAreErrors) {
  HM_SKIP_WITHOUT_CUDA();
  const Tensor c = ones({2, 3}, DType::f32), g = ones({2, 3}, DType::f32, Device::cuda());
  EXPECT_TRUE(throws_with([&] { add(c, g); }, "add: operands on different devices, cpu and cuda:0"));
  EXPECT_TRUE(throws_with([&] { mul(g, c); }, "mul: operands on different devices"));
  const Tensor m = zeros({2, 3}, DType::u8);
  EXPECT_TRUE(throws_with([&] { where(m, g, g); }, "where: the mask is on cpu but the values on cuda:0"));
  EXPECT_TRUE(throws_with([&] { masked_fill(g, m, 1.0); }, "masked_fill: the mask is on cpu"));
  const Tensor b = g.to(DType::bf16), i = ones({3}, DType::i32, Device::cuda());
  EXPECT_TRUE(throws_with([&] { exp(b); }, "exp: expected a float32 or float64 tensor, got bfloat16"));
  EXPECT_TRUE(throws_with([&] { softmax(b, -1); }, "softmax: expected a float32 or float64 tensor"));
  EXPECT_TRUE(throws_with([&] { sum(i); }, "sum: expected a float32 or float64 tensor"));
  EXPECT_TRUE(throws_with([&] { add(g, g.to(DType::f64)); }, "add: dtype mismatch"));
}

}  // namespace
}  // namespace hm::test
