// Elementwise ops: broadcasting forward values against a double-precision reference, scalar overloads and
// operators, unary ops and activations against closed forms, float64 gradient checks of every op, error
// messages, thread-count independence, dropout statistics and reproducibility.
#include <cmath>
#include <memory>

#include "cpu/parallel.h"
#include "ops/ops.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

// Flat index into a tensor of shape `s` for element i of the broadcast shape `out` (numpy rules).
int64_t broadcast_index(int64_t i, const Shape& out, const Shape& s) {
  int64_t idx = 0, stride = 1;
  for (int64_t d = int64_t(out.size()) - 1, k = int64_t(s.size()) - 1; d >= 0; --d, --k) {
    const int64_t coord = i % out[size_t(d)];
    i /= out[size_t(d)];
    if (k < 0) continue;
    if (s[size_t(k)] != 1) idx += coord * stride;
    stride *= s[size_t(k)];
  }
  return idx;
}

// f(a, b) over the broadcast shape, in double, from the tensors' own (rounded) values.
template <class F>
Tensor broadcast_reference(const Tensor& a, const Tensor& b, F f) {
  const Shape out = broadcast_shapes(a.shape(), b.shape(), "reference");
  const std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  std::vector<double> r(size_t(shape_numel(out)));
  for (int64_t i = 0; i < int64_t(r.size()); ++i)
    r[size_t(i)] = f(va[size_t(broadcast_index(i, out, a.shape()))], vb[size_t(broadcast_index(i, out, b.shape()))]);
  return from_vector(r, out);
}

template <class F>
Tensor map_reference(const Tensor& x, F f) {
  std::vector<double> v = x.to_vector<double>();
  for (double& e : v) e = f(e);
  return from_vector(v, x.shape());
}

Tensor random(const Shape& s, uint64_t seed, DType dt, double scale = 1.0, double shift = 0.0) {
  Generator gen(seed);
  Tensor t = randn(s, DType::f64, gen);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = p[i] * scale + shift;
  return t.to(dt);
}

double tol(DType dt) { return dt == DType::f32 ? 2e-6 : 1e-14; }

// Shape pairs covering every kernel path of ops/elementwise.cpp: same shape, scalar, row (bias) and column
// broadcasts in both operand orders, general broadcasts, size-1 and odd dims, empty tensors.
const std::vector<std::pair<Shape, Shape>> kBroadcastCases = {
    {{2, 3}, {2, 3}}, {{17}, {17}},        {{5, 7}, {7}},           {{7}, {5, 7}},       {{2, 3, 4}, {3, 4}},
    {{4, 1}, {4, 6}}, {{4, 6}, {4, 1}},    {{2, 3, 33}, {2, 3, 1}}, {{3, 5}, {}},        {{}, {3, 5}},
    {{1}, {3, 5}},    {{3, 1, 5}, {4, 1}}, {{2, 1, 4}, {3, 1}},     {{3, 5, 7}, {5, 1}}, {{1, 1}, {1}},
    {{1}, {1}},       {{0, 3}, {3}},       {{6, 1, 1}, {1, 5, 1}},  {{1, 65}, {9, 1}},   {{9, 65}, {1, 65}}};

TEST(Elementwise, BinaryBroadcastForwardMatchesReference) {
  for (DType dt : {DType::f32, DType::f64})
    for (size_t c = 0; c < kBroadcastCases.size(); ++c) {
      const auto& [sa, sb] = kBroadcastCases[c];
      SCOPED_TRACE(cat(dtype_name(dt), " ", sa, " op ", sb));
      const Tensor a = random(sa, 10 + c, dt), b = random(sb, 20 + c, dt, 0.5, 2.0);  // b away from 0
      EXPECT_TRUE(all_close(add(a, b), broadcast_reference(a, b, std::plus<>()), 0, tol(dt)));
      EXPECT_TRUE(all_close(sub(a, b), broadcast_reference(a, b, std::minus<>()), 0, tol(dt)));
      EXPECT_TRUE(all_close(mul(a, b), broadcast_reference(a, b, std::multiplies<>()), 0, tol(dt)));
      EXPECT_TRUE(all_close(div(a, b), broadcast_reference(a, b, std::divides<>()), 0, tol(dt)));
      // Reversed operand order goes through the reversed kernels (rsub / rdiv).
      EXPECT_TRUE(all_close(sub(b, a), broadcast_reference(b, a, std::minus<>()), 0, tol(dt)));
      EXPECT_TRUE(
          all_close(div(a, b) * b, broadcast_reference(a, b, [](double x, double) { return x; }), 1e-6, tol(dt) * 4));
    }
}

TEST(Elementwise, BinaryNonContiguousInputsAndOperators) {
  const Tensor base = random({4, 6}, 1, DType::f64);
  const Tensor at = base.transpose(0, 1);                     // (6, 4), strided
  const Tensor bf = random({6, 4}, 2, DType::f64).flip({0});  // negative strides
  EXPECT_TRUE(all_close(at + bf, broadcast_reference(at, bf, std::plus<>()), 0, 1e-15));
  EXPECT_TRUE(
      all_close(at * bf.slice(0, 0, 1), broadcast_reference(at, bf.slice(0, 0, 1), std::multiplies<>()), 0, 1e-15));
  EXPECT_TRUE(all_close(at - bf, sub(at, bf), 0, 0));
  EXPECT_TRUE(all_close(at / bf, div(at, bf), 0, 0));
  EXPECT_TRUE(all_close(-at, map_reference(at, [](double v) { return -v; }), 0, 0));
}

TEST(Elementwise, ScalarOverloads) {
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor t = random({3, 5}, 3, dt, 1.0, 3.0);  // positive, away from 0
    const double e = tol(dt);
    EXPECT_TRUE(all_close(add(t, 2.5), map_reference(t, [](double v) { return v + 2.5; }), 0, e));
    EXPECT_TRUE(all_close(2.5 + t, map_reference(t, [](double v) { return v + 2.5; }), 0, e));
    EXPECT_TRUE(all_close(sub(t, 1.0), map_reference(t, [](double v) { return v - 1.0; }), 0, e));
    EXPECT_TRUE(all_close(sub(1.0, t), map_reference(t, [](double v) { return 1.0 - v; }), 0, e));
    EXPECT_TRUE(all_close(1.0 - t, map_reference(t, [](double v) { return 1.0 - v; }), 0, e));
    EXPECT_TRUE(all_close(mul(t, 2.0), map_reference(t, [](double v) { return 2.0 * v; }), 0, e));
    EXPECT_TRUE(all_close(-3.0 * t, map_reference(t, [](double v) { return -3.0 * v; }), 0, e));
    EXPECT_TRUE(all_close(t / 4.0, map_reference(t, [](double v) { return v / 4.0; }), 0, e));
    EXPECT_TRUE(all_close(div(2.0, t), map_reference(t, [](double v) { return 2.0 / v; }), 0, e));
    EXPECT_TRUE(all_close(2.0 / t, map_reference(t, [](double v) { return 2.0 / v; }), 0, e));
    EXPECT_TRUE(all_close(t - 0.5, map_reference(t, [](double v) { return v - 0.5; }), 0, e));
    EXPECT_EQ((t * 2.0).dtype(), dt);
  }
}

Tensor positive(const Shape& s, uint64_t seed, DType dt) {
  Tensor t = random(s, seed, DType::f64);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = std::abs(p[i]) + 0.1;
  return t.to(dt);
}

double gelu_ref(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }  // torch, approximate='none'
double sigmoid_ref(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double softplus_ref(double x) { return x > 20 ? x : std::log1p(std::exp(x)); }

TEST(Elementwise, UnaryAndActivationsMatchClosedForms) {
  const std::vector<Shape> shapes = {{1}, {33}, {3, 5}, {2, 1, 7}, {}};
  for (DType dt : {DType::f32, DType::f64})
    for (size_t k = 0; k < shapes.size(); ++k) {
      SCOPED_TRACE(cat(dtype_name(dt), " ", shapes[k]));
      const double rt = dt == DType::f32 ? 4e-6 : 1e-13, at = dt == DType::f32 ? 1e-7 : 1e-15;
      const Tensor x = random(shapes[k], 30 + k, dt, 3.0), xp = positive(shapes[k], 40 + k, dt);
      const Tensor xw = random(shapes[k], 50 + k, dt, 15.0);  // crosses the softplus threshold
      EXPECT_TRUE(all_close(neg(x), map_reference(x, [](double v) { return -v; }), 0, 0));
      EXPECT_TRUE(all_close(exp(x), map_reference(x, [](double v) { return std::exp(v); }), at, rt));
      EXPECT_TRUE(all_close(log(xp), map_reference(xp, [](double v) { return std::log(v); }), at, rt));
      EXPECT_TRUE(all_close(sqrt(xp), map_reference(xp, [](double v) { return std::sqrt(v); }), at, rt));
      EXPECT_TRUE(all_close(tanh(x), map_reference(x, [](double v) { return std::tanh(v); }), at, rt));
      EXPECT_TRUE(all_close(sigmoid(x), map_reference(x, sigmoid_ref), at, rt));
      EXPECT_TRUE(all_close(relu(x), map_reference(x, [](double v) { return v > 0 ? v : 0.0; }), 0, 0));
      EXPECT_TRUE(all_close(gelu(x), map_reference(x, gelu_ref), at, rt));
      EXPECT_TRUE(all_close(silu(x), map_reference(x, [](double v) { return v * sigmoid_ref(v); }), at, rt));
      EXPECT_TRUE(all_close(softplus(xw), map_reference(xw, softplus_ref), at, rt));
      for (double p : {2.0, 3.0, -1.0, 0.0, 5.0})  // integral: any sign of x
        EXPECT_TRUE(all_close(pow(x, p), map_reference(x, [p](double v) { return std::pow(v, p); }), at, 4 * rt))
            << "p=" << p;
      for (double p : {0.5, -1.5, 2.5})  // fractional: positive x
        EXPECT_TRUE(all_close(pow(xp, p), map_reference(xp, [p](double v) { return std::pow(v, p); }), at, 20 * rt))
            << "p=" << p;
      EXPECT_EQ(gelu(x).shape(), shapes[k]);
    }
  // Known values (50-digit mpmath, rounded to double).
  const Tensor v = from_doubles({-30, -1, 0, 1, 25}, {5}, DType::f64);
  const auto values = [](std::vector<double> v) { return from_doubles(v, {5}, DType::f64); };
  EXPECT_TRUE(
      all_close(gelu(v), values({-1.472014178144456e-196, -0.15865525393145705, 0, 0.8413447460685429, 25}), 0, 1e-14));
  EXPECT_TRUE(all_close(silu(v),
                        values({-2.8072868906517896e-12, -0.2689414213699951, 0, 0.7310585786300049, 24.9999999996528}),
                        0, 1e-14));
  EXPECT_TRUE(all_close(softplus(v),
                        values({9.357622968839737e-14, 0.3132616875182228, 0.6931471805599453, 1.3132616875182228, 25}),
                        0, 1e-14));
  EXPECT_TRUE(all_close(
      sigmoid(v), values({9.357622968839299e-14, 0.2689414213699951, 0.5, 0.7310585786300049, 0.9999999999861121}), 0,
      1e-14));
}

// ---- float64 gradient checks: every registered elementwise op ----

TEST(Elementwise, GradcheckBinaryWithBroadcasting) {
  const std::vector<std::pair<Shape, Shape>> cases = {{{2, 3}, {2, 3}}, {{3, 4}, {4}},          {{4}, {3, 4}},
                                                      {{3, 1}, {3, 4}}, {{2, 3, 5}, {2, 3, 1}}, {{2, 1, 3}, {4, 1}},
                                                      {{3, 2}, {}}};
  for (size_t c = 0; c < cases.size(); ++c) {
    SCOPED_TRACE(cat(cases[c].first, " op ", cases[c].second));
    const Tensor a = randn_param(cases[c].first, 100 + c);
    Tensor b = randn_param(cases[c].second, 200 + c);
    expect_gradcheck("add", [](const std::vector<Tensor>& in) { return add(in[0], in[1]); }, {a, b});
    expect_gradcheck("sub", [](const std::vector<Tensor>& in) { return in[0] - in[1]; }, {a, b});
    expect_gradcheck("mul", [](const std::vector<Tensor>& in) { return mul(in[0], in[1]); }, {a, b});
    double* pb = b.data<double>();
    for (int64_t i = 0; i < b.numel(); ++i) pb[i] = std::abs(pb[i]) + 0.5;  // keep the divisor away from 0
    expect_gradcheck("div", [](const std::vector<Tensor>& in) { return div(in[0], in[1]); }, {a, b});
  }
  // Only one operand requires grad.
  const Tensor a = randn_param({3, 4}, 7);
  const Tensor c = random({4}, 8, DType::f64, 1.0, 3.0);
  expect_gradcheck("mul", [c](const std::vector<Tensor>& in) { return mul(c, in[0]); }, {a});
  expect_gradcheck("div", [c](const std::vector<Tensor>& in) { return div(in[0], c); }, {a});
}

TEST(Elementwise, GradcheckScalarForms) {
  const Tensor x = randn_param({2, 5}, 9);
  const Tensor xp = randn_param({2, 5}, 10);
  double* p = xp.data<double>();
  for (int64_t i = 0; i < xp.numel(); ++i) p[i] = std::abs(p[i]) + 0.3;
  expect_gradcheck("add_scalar", [](const std::vector<Tensor>& in) { return 1.5 + in[0]; }, {x});
  expect_gradcheck("sub_scalar", [](const std::vector<Tensor>& in) { return sub(in[0], 2.0); }, {x});
  expect_gradcheck("rsub_scalar", [](const std::vector<Tensor>& in) { return 1.0 - in[0]; }, {x});
  expect_gradcheck("mul_scalar", [](const std::vector<Tensor>& in) { return mul(in[0], -3.0); }, {x});
  expect_gradcheck("div_scalar", [](const std::vector<Tensor>& in) { return in[0] / 4.0; }, {x});
  expect_gradcheck("rdiv_scalar", [](const std::vector<Tensor>& in) { return div(2.0, in[0]); }, {xp});
}

TEST(Elementwise, GradcheckUnary) {
  const Tensor x = randn_param({3, 7}, 11);
  const Tensor xp = randn_param({3, 7}, 12);
  double* p = xp.data<double>();
  for (int64_t i = 0; i < xp.numel(); ++i) p[i] = std::abs(p[i]) + 0.3;
  expect_gradcheck("neg", [](const std::vector<Tensor>& in) { return -in[0]; }, {x});
  expect_gradcheck("exp", [](const std::vector<Tensor>& in) { return exp(in[0]); }, {x});
  expect_gradcheck("log", [](const std::vector<Tensor>& in) { return log(in[0]); }, {xp});
  expect_gradcheck("sqrt", [](const std::vector<Tensor>& in) { return sqrt(in[0]); }, {xp});
  for (double e : {2.0, 3.0, 0.0, -1.0})
    expect_gradcheck("pow", [e](const std::vector<Tensor>& in) { return pow(in[0], e); }, {e < 0 ? xp : x});
  for (double e : {0.5, -1.5, 2.5, 100.5})
    expect_gradcheck("pow", [e](const std::vector<Tensor>& in) { return pow(in[0], e / (e > 100 ? 40 : 1)); }, {xp});
}

TEST(Elementwise, GradcheckActivations) {
  const Tensor x = randn_param({4, 9}, 13, DType::f64, 2.5);
  expect_gradcheck("tanh", [](const std::vector<Tensor>& in) { return tanh(in[0]); }, {x});
  expect_gradcheck("sigmoid", [](const std::vector<Tensor>& in) { return sigmoid(in[0]); }, {x});
  expect_gradcheck("gelu", [](const std::vector<Tensor>& in) { return gelu(in[0]); }, {x});
  expect_gradcheck("silu", [](const std::vector<Tensor>& in) { return silu(in[0]); }, {x});
  const Tensor xr = randn_param({4, 9}, 14);
  avoid_kinks(xr, {0.0}, 0.05);
  expect_gradcheck("relu", [](const std::vector<Tensor>& in) { return relu(in[0]); }, {xr});
  // softplus on both sides of its threshold (20), away from the switch itself.
  Tensor xs = from_doubles({-25, -5, -0.3, 0.2, 3, 19.5, 20.5, 25, 40}, {9}, DType::f64);
  xs.requires_grad_(true);
  expect_gradcheck("softplus", [](const std::vector<Tensor>& in) { return softplus(in[0]); }, {xs});
}

TEST(Elementwise, GradcheckWhereMaskedFillDropout) {
  const Tensor cond = from_vector<uint8_t>({1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1}, {3, 4});
  const Tensor a = randn_param({3, 1}, 15), b = randn_param({4}, 16);
  expect_gradcheck("where", [cond](const std::vector<Tensor>& in) { return where(cond, in[0], in[1]); }, {a, b});
  const Tensor t = randn_param({3, 4}, 17);
  const Tensor mask = from_vector<uint8_t>({0, 1, 1, 0}, {1, 4});
  expect_gradcheck("masked_fill", [mask](const std::vector<Tensor>& in) { return masked_fill(in[0], mask, -2.0); },
                   {t});
  const Tensor d = randn_param({5, 7}, 18);
  expect_gradcheck("dropout",
                   [](const std::vector<Tensor>& in) {
                     Generator gen(5);  // the same mask on every evaluation
                     return dropout(in[0], 0.4, true, gen);
                   },
                   {d});
}

TEST(Elementwise, WhereAndMaskedFillValues) {
  const Tensor cond = from_vector<uint8_t>({1, 0, 0, 1, 1, 0}, {2, 3});
  const Tensor a = from_doubles({1, 2, 3}, {3}), b = from_doubles({-1, -2}, {2, 1});
  EXPECT_EQ(where(cond, a, b).to_vector<double>(), (std::vector<double>{1, -1, -1, 1, 2, -2}));
  const Tensor t = from_doubles({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64);
  const Tensor m = from_vector<uint8_t>({0, 1, 0}, {3});
  EXPECT_EQ(masked_fill(t, m, -9).to_vector<double>(), (std::vector<double>{1, -9, 3, 4, -9, 6}));
  EXPECT_EQ(masked_fill(t, m, -9).dtype(), DType::f64);
}

TEST(Elementwise, ErrorsNameOpShapesAndDtypes) {
  EXPECT_TRUE(throws_with([] { add(zeros({2, 3}), zeros({4})); }, "add: cannot broadcast (2, 3) with (4,)"));
  EXPECT_TRUE(throws_with([] { zeros({2, 3}) * zeros({3, 2}); }, "mul: cannot broadcast (2, 3) with (3, 2)"));
  EXPECT_TRUE(throws_with([] { mul(zeros({2}), zeros({2}, DType::f64)); }, "mul: dtype mismatch float32 vs float64"));
  EXPECT_TRUE(throws_with([] { add(zeros({2}, DType::i64), zeros({2}, DType::i64)); },
                          "add: expected a float32 or float64 tensor, got int64"));
  EXPECT_TRUE(throws_with([] { exp(zeros({2}, DType::i32)); }, "exp: expected a float32 or float64 tensor"));
  EXPECT_TRUE(throws_with([] { gelu(zeros({2}, DType::u8)); }, "gelu: expected a float32 or float64 tensor"));
  EXPECT_TRUE(throws_with([] { where(zeros({2}), zeros({2}), zeros({2})); },
                          "where: the mask must be a uint8 tensor, got float32"));
  EXPECT_TRUE(throws_with([] { where(zeros({3}, DType::u8), zeros({2}), zeros({2})); }, "where: cannot broadcast"));
  EXPECT_TRUE(throws_with(
      [] {
        masked_fill(zeros({4}), zeros({3, 4}, DType::u8), 1.0);
      },
      "does not broadcast to the tensor's shape (4,)"));
  EXPECT_TRUE(throws_with([] { dropout(zeros({2}), 1.5, true); }, "dropout: probability must be in [0, 1]"));
}

// Elementwise results do not depend on the thread count: chunk boundaries never change an element's value.
TEST(Elementwise, ResultsIndependentOfThreadCount) {
  const int before = cpu::num_threads();
  const Tensor x = random({1 << 20 | 17}, 60, DType::f32, 4.0);
  const Tensor bias = random({(1 << 20 | 17) / 7}, 61, DType::f32);
  std::vector<std::vector<float>> results[2];
  for (int threads : {1, 2}) {
    cpu::set_num_threads(threads);
    results[threads - 1] = {gelu(x).to_vector<float>(), exp(x).to_vector<float>(),
                            (x.narrow(0, 0, bias.numel() * 7).reshape({7, -1}) + bias).to_vector<float>()};
  }
  cpu::set_num_threads(before);
  for (size_t k = 0; k < results[0].size(); ++k) EXPECT_EQ(results[0][k], results[1][k]) << "result " << k;
}

// The saved context must not keep an op's own output alive (no reference cycle through the graph).
TEST(Elementwise, OutputsAreFreedWithTheirGraph) {
  const Tensor x = randn_param({4}, 19);
  std::weak_ptr<TensorImpl> weak[4];
  {
    const Tensor y1 = tanh(x), y2 = exp(x), y3 = div(x, x + 3.0), y4 = div(1.0, x);
    weak[0] = y1.impl_ptr(), weak[1] = y2.impl_ptr(), weak[2] = y3.impl_ptr(), weak[3] = y4.impl_ptr();
  }
  for (const auto& w : weak) EXPECT_TRUE(w.expired());
}

TEST(Elementwise, DropoutStatisticsAndReproducibility) {
  const Tensor x = ones({100003}, DType::f32);
  Generator g1(77), g2(77), g3(78);
  const Tensor y = dropout(x, 0.3, true, g1);
  EXPECT_EQ(g1.offset(), uint64_t((100003 + 3) / 4));
  const std::vector<float> v = y.to_vector<float>();
  int64_t zeros_count = 0;
  for (float e : v) {
    if (e == 0)
      ++zeros_count;
    else
      ASSERT_FLOAT_EQ(e, 1.0f / 0.7f);
  }
  EXPECT_NEAR(double(zeros_count) / double(v.size()), 0.3, 0.01);
  EXPECT_EQ(dropout(x, 0.3, true, g2).to_vector<float>(), v);  // same seed and offset: same mask
  EXPECT_NE(dropout(x, 0.3, true, g3).to_vector<float>(), v);  // another seed: another mask
  EXPECT_NE(dropout(x, 0.3, true, g1).to_vector<float>(), v);  // the stream advanced
  const int before = cpu::num_threads();
  cpu::set_num_threads(1);
  Generator g4(77);
  EXPECT_EQ(dropout(x, 0.3, true, g4).to_vector<float>(), v);  // identical with one thread
  cpu::set_num_threads(before);
  // Identity when not training or p == 0 (the same tensor comes back), zeros for p == 1.
  EXPECT_EQ(dropout(x, 0.5, false, g1).unsafe_impl(), x.unsafe_impl());
  EXPECT_EQ(dropout(x, 0.0, true, g1).unsafe_impl(), x.unsafe_impl());
  for (float e : dropout(x, 1.0, true, g1).to_vector<float>()) ASSERT_EQ(e, 0.0f);
}

}  // namespace
}  // namespace hm::test
