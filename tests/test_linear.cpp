// matmul / bmm / linear: forward against a naive double-precision reference on random shapes (size 1, odd
// sizes, transposed / strided / expanded operands, broadcast batch dims), float64 gradient checks, and the error
// messages. The GEMM variants themselves are compared in test_conformance_gemm.cpp.
#include "engine/allocator.h"
#include "ops/linear.h"
#include "tests/test_util.h"
#include "train/cmd_selfcheck.h"

namespace hm::test {
namespace {

// C = A @ B for 2-D tensors of any layout, in double, by the definition.
Tensor naive_mm(const Tensor& a, const Tensor& b) {
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  const std::vector<double> va = a.detach().to_vector<double>(), vb = b.detach().to_vector<double>();
  std::vector<double> c(size_t(M * N), 0.0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)
      for (int64_t p = 0; p < K; ++p) c[i * N + j] += va[i * K + p] * vb[p * N + j];
  return from_vector(c, {M, N});
}

// Batched reference: broadcast both to batch + (M, K) / (K, N), multiply each batch entry with naive_mm.
Tensor naive_matmul(const Tensor& a, const Tensor& b, const Shape& batch) {
  Shape sa = batch, sb = batch;
  sa.insert(sa.end(), a.shape().end() - 2, a.shape().end());
  sb.insert(sb.end(), b.shape().end() - 2, b.shape().end());
  const Tensor ea = a.detach().expand(sa).contiguous().reshape({-1, sa[sa.size() - 2], sa.back()});
  const Tensor eb = b.detach().expand(sb).contiguous().reshape({-1, sb[sb.size() - 2], sb.back()});
  std::vector<double> all;
  for (int64_t i = 0; i < ea.size(0); ++i) {
    const auto v = naive_mm(ea.select(0, i), eb.select(0, i)).to_vector<double>();
    all.insert(all.end(), v.begin(), v.end());
  }
  Shape out = batch;
  out.push_back(sa[sa.size() - 2]);
  out.push_back(sb.back());
  return from_vector(all, out);
}

Tensor rnd(const Shape& s, uint64_t seed, DType dt = DType::f32) {
  Generator g(seed);
  return randn(s, dt, g);
}

double f32_tol(int64_t K) { return 1e-5 * double(K + 1); }

TEST(Matmul, Forward2DRandomShapesBothDtypes) {
  uint64_t seed = 1;
  for (DType dt : {DType::f32, DType::f64})
    for (int64_t M : {1, 3, 17})
      for (int64_t K : {1, 5, 33})
        for (int64_t N : {1, 2, 9}) {
          SCOPED_TRACE(cat("M=", M, " K=", K, " N=", N, " ", dt));
          const Tensor a = rnd({M, K}, seed++, dt), b = rnd({K, N}, seed++, dt);
          const Tensor c = matmul(a, b);
          EXPECT_EQ(c.dtype(), dt);
          EXPECT_TRUE(all_close(c, naive_mm(a, b), dt == DType::f32 ? f32_tol(K) : 1e-12, 1e-5));
        }
}

TEST(Matmul, TransposedStridedAndExpandedOperands) {
  // Every operand layout the op must handle: transposed (BLAS flag), a column slice (ld > cols), a row step
  // (ld = 2 * cols), flipped and expanded matrices (no BLAS form: copied), and size-1 dims with odd strides.
  const Tensor base_a = rnd({7, 12}, 11), base_b = rnd({12, 10}, 12);
  const std::vector<std::pair<const char*, Tensor>> as = {
      {"plain", base_a.slice(1, 0, 6)},                   // (7, 6) with ld 12
      {"transposed", rnd({6, 7}, 13).transpose(0, 1)},    // (7, 6)
      {"row step", rnd({14, 6}, 14).slice(0, 0, 14, 2)},  // (7, 6) with ld 12
      {"flipped", rnd({7, 6}, 15).flip({1})},             // negative column stride
      {"expanded rows", rnd({1, 6}, 16).expand({7, 6})},  // row stride 0
  };
  const std::vector<std::pair<const char*, Tensor>> bs = {
      {"plain", base_b.slice(0, 0, 6)},                         // (6, 10)
      {"transposed", rnd({10, 6}, 17).transpose(0, 1)},         // (6, 10)
      {"column slice", base_b.slice(0, 2, 8).slice(1, 1, 10)},  // (6, 9) offset view
      {"expanded cols", rnd({6, 1}, 18).expand({6, 10})},       // column stride 0
  };
  for (const auto& [na, a] : as)
    for (const auto& [nb, b] : bs) {
      SCOPED_TRACE(cat(na, " @ ", nb));
      EXPECT_TRUE(all_close(matmul(a, b), naive_mm(a, b), f32_tol(6), 1e-5));
    }
}

TEST(Matmul, BroadcastBatchDimsAndFoldedRows) {
  struct Case {
    Shape a, b, batch;
  };
  const std::vector<Case> cases = {
      {{2, 1, 3, 4}, {5, 4, 6}, {2, 5}},  // partial broadcast on both sides
      {{4, 3, 5}, {5, 2}, {4}},           // N-D @ 2-D: folds into one GEMM of (12, 5) @ (5, 2)
      {{3, 5}, {2, 5, 7}, {2}},           // 2-D @ N-D
      {{1, 1, 4}, {3, 4, 1}, {3}},        // unit sizes everywhere
      {{2, 3, 1, 2}, {1, 2, 3}, {2, 3}},
  };
  uint64_t seed = 100;
  for (const Case& c : cases) {
    SCOPED_TRACE(cat(c.a, " @ ", c.b));
    const Tensor a = rnd(c.a, seed++, DType::f64), b = rnd(c.b, seed++, DType::f64);
    EXPECT_TRUE(all_close(matmul(a, b), naive_matmul(a, b, c.batch), 1e-12, 1e-12));
  }
  // A batched operand whose matrices are transposed views, and a batch-transposed (non-foldable) left side.
  const Tensor a = rnd({3, 6, 4}, 200, DType::f64).transpose(1, 2);  // (3, 4, 6)
  const Tensor b = rnd({3, 6, 5}, 201, DType::f64);
  EXPECT_TRUE(all_close(matmul(a, b), naive_matmul(a, b, {3}), 1e-12, 1e-12));
  const Tensor p = rnd({4, 3, 6}, 202, DType::f64).transpose(0, 1);  // (3, 4, 6), batch stride 6
  const Tensor w = rnd({6, 2}, 203, DType::f64);
  EXPECT_TRUE(all_close(matmul(p, w), naive_matmul(p, w, {3}), 1e-12, 1e-12));
}

TEST(Matmul, OneDimensionalOperandsFollowTorch) {
  const Tensor v = from_vector<double>({1, 2, 3}, {3});
  const Tensor m = from_vector<double>({1, 0, 2, 1, 0, 3}, {3, 2});  // (3, 2)
  const Tensor dot = matmul(v, v);
  EXPECT_EQ(dot.shape(), Shape{});
  EXPECT_DOUBLE_EQ(dot.item(), 14.0);
  EXPECT_EQ(matmul(v, m).to_vector<double>(), (std::vector<double>{1 + 4, 0 + 2 + 9}));  // (2,)
  EXPECT_EQ(matmul(m.transpose(0, 1), v).to_vector<double>(), (std::vector<double>{5, 11}));
  const Tensor batched = rnd({4, 3, 2}, 5, DType::f64);
  EXPECT_EQ(matmul(v, batched).shape(), (Shape{4, 2}));
  EXPECT_EQ(matmul(batched.transpose(1, 2), v).shape(), (Shape{4, 2}));
}

TEST(Matmul, ErrorsNameShapesAndDtypes) {
  const Tensor a = zeros({2, 3}), b = zeros({4, 5});
  EXPECT_TRUE(throws_with([&] { matmul(a, b); }, "matmul: inner dimensions differ: (2, 3) @ (4, 5)"));
  EXPECT_TRUE(throws_with([&] { matmul(zeros({3}), zeros({4})); }, "inner dimensions differ: (3,) @ (4,)"));
  EXPECT_TRUE(throws_with(
      [&] {
        matmul(zeros({2, 3}), zeros({3, 2}, DType::f64));
      },
      "matmul: dtype mismatch: float32 (2, 3) @ float64 (3, 2)"));
  EXPECT_TRUE(throws_with(
      [&] {
        matmul(zeros({2, 3}, DType::i64), zeros({3, 2}, DType::i64));
      },
      "expected float32 or float64 tensors, got int64"));
  EXPECT_TRUE(throws_with(
      [&] {
        matmul(zeros({2, 2, 3}), zeros({3, 3, 4}));
      },
      "batch dimensions (2,) and (3,) do not broadcast: (2, 2, 3) @ (3, 3, 4)"));
  EXPECT_TRUE(throws_with([&] { matmul(scalar_tensor(1.0), zeros({3})); }, "at least 1 dimension"));
  EXPECT_TRUE(throws_with([&] { bmm(zeros({2, 3}), zeros({2, 3, 4})); }, "bmm: expected 3-D tensors, got (2, 3)"));
  EXPECT_TRUE(throws_with([&] { bmm(zeros({2, 3, 4}), zeros({5, 4, 6})); }, "bmm: batch sizes differ"));
  EXPECT_TRUE(throws_with(
      [&] {
        bmm(zeros({2, 3, 4}), zeros({2, 5, 6}));
      },
      "bmm: inner dimensions differ: (2, 3, 4) @ (2, 5, 6)"));
}

TEST(Matmul, EmptyInnerDimGivesZeros) {
  const Tensor c = matmul(zeros({3, 0}), zeros({0, 4}));
  EXPECT_EQ(c.shape(), (Shape{3, 4}));
  EXPECT_EQ(c.to_vector<float>(), std::vector<float>(12, 0.0f));
}

TEST(Matmul, Gradcheck2DTransposedAndOneD) {
  auto mm = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
  expect_gradcheck("matmul", mm, {randn_param({3, 4}, 1), randn_param({4, 5}, 2)});
  expect_gradcheck("matmul", mm, {randn_param({1, 1}, 3), randn_param({1, 3}, 4)});
  // Transposed views reach BLAS as flags, and so do their gradients.
  expect_gradcheck("matmul",
                   [](const std::vector<Tensor>& in) { return matmul(in[0].transpose(0, 1), in[1].transpose(0, 1)); },
                   {randn_param({4, 3}, 5), randn_param({2, 4}, 6)});
  expect_gradcheck("matmul", mm, {randn_param({3}, 7), randn_param({3}, 8)});
  expect_gradcheck("matmul", mm, {randn_param({3}, 9), randn_param({2, 3, 2}, 10)});
  expect_gradcheck("matmul", mm, {randn_param({2, 3, 4}, 11), randn_param({4}, 12)});
}

TEST(Matmul, GradcheckBroadcastBatch) {
  auto mm = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
  expect_gradcheck("matmul", mm, {randn_param({2, 1, 3, 4}, 20), randn_param({3, 4, 2}, 21)});
  expect_gradcheck("matmul", mm, {randn_param({3, 2, 4}, 22), randn_param({4, 3}, 23)});  // folded rows
  expect_gradcheck("matmul", mm, {randn_param({2, 4}, 24), randn_param({3, 4, 2}, 25)});  // shared left side
  // Only one side requires grad.
  expect_gradcheck("matmul", mm, {randn_param({2, 3, 4}, 26), randn_param({4, 2}, 27).detach()});
}

TEST(Matmul, ScalarVariantGivesTheSameOpResults) {
  Tensor a = randn_param({3, 5, 4}, 30), b = randn_param({4, 6}, 31);
  Tensor c_blas = matmul(a, b);
  c_blas.backward(ones(c_blas.shape(), DType::f64));
  const Tensor ga = a.grad(), gb = b.grad();
  a.zero_grad(), b.zero_grad();
  set_kernel_overrides("gemm=scalar");
  Tensor c_ref = matmul(a, b);
  c_ref.backward(ones(c_ref.shape(), DType::f64));
  set_kernel_overrides("gemm=openblas");
  EXPECT_TRUE(all_close(c_blas, c_ref, 1e-12, 1e-12));
  EXPECT_TRUE(all_close(ga, a.grad(), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(gb, b.grad(), 1e-12, 1e-12));
}

TEST(Bmm, ForwardAndGradcheck) {
  const Tensor a = rnd({3, 2, 5}, 40, DType::f64), b = rnd({3, 5, 4}, 41, DType::f64);
  EXPECT_TRUE(all_close(bmm(a, b), naive_matmul(a, b, {3}), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(bmm(a, b.transpose(1, 2).contiguous().transpose(1, 2)), naive_matmul(a, b, {3}), 1e-12, 1e-12));
  auto f = [](const std::vector<Tensor>& in) { return bmm(in[0], in[1]); };
  expect_gradcheck("bmm", f, {randn_param({2, 3, 4}, 42), randn_param({2, 4, 1}, 43)});
  expect_gradcheck("bmm", [](const std::vector<Tensor>& in) { return bmm(in[0].transpose(1, 2), in[1]); },
                   {randn_param({3, 4, 3}, 44), randn_param({3, 4, 2}, 45)});
}

// y = x W^T + b by the definition, for x (rows, in).
Tensor naive_linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  Tensor y = naive_mm(x.reshape({-1, x.size(-1)}), w.transpose(0, 1));
  if (b.defined()) {
    std::vector<double> v = y.to_vector<double>();
    const std::vector<double> vb = b.detach().to_vector<double>();
    for (size_t i = 0; i < v.size(); ++i) v[i] += vb[i % vb.size()];
    y = from_vector(v, y.shape());
  }
  Shape s = x.shape();
  s.back() = w.size(0);
  return y.reshape(s);
}

TEST(Linear, ForwardShapesLayoutsAndBias) {
  uint64_t seed = 50;
  for (const Shape& xs : std::vector<Shape>{{5}, {1, 7}, {3, 7}, {2, 3, 7}, {2, 1, 3, 7}})
    for (int64_t out : {1, 4, 9})
      for (bool with_bias : {false, true}) {
        SCOPED_TRACE(cat(xs, " out=", out, " bias=", with_bias));
        const Tensor x = rnd(xs, seed++), w = rnd({out, xs.back()}, seed++);
        const Tensor b = with_bias ? rnd({out}, seed++) : Tensor();
        const Tensor y = linear(x, w, b);
        EXPECT_TRUE(all_close(y, naive_linear(x, w, b), f32_tol(xs.back()), 1e-5));
      }
  // Transposed weight (tied embeddings), x whose leading dims do not collapse (copied), x as a transposed view.
  const Tensor wt = rnd({6, 4}, 60).transpose(0, 1);     // (4, 6)
  const Tensor xp = rnd({3, 2, 6}, 61).transpose(0, 1);  // (2, 3, 6), rows do not collapse
  const Tensor xt = rnd({6, 5}, 62).transpose(0, 1);     // (5, 6), column-major rows
  const Tensor b = rnd({4}, 63);
  EXPECT_TRUE(all_close(linear(xp, wt, b), naive_linear(xp, wt, b), f32_tol(6), 1e-5));
  EXPECT_TRUE(all_close(linear(xt, wt, b), naive_linear(xt, wt, b), f32_tol(6), 1e-5));
}

TEST(Linear, ContiguousAndTransposedOperandsAreNotCopied) {
  // The only allocation is the output: x's leading dims fold into the GEMM's rows and transposed operands go to
  // BLAS as flags. (A flipped operand has no BLAS layout and costs one copy, which this also checks.)
  const Tensor x = rnd({2, 3, 5}, 90), w = rnd({5, 4}, 91).transpose(0, 1), b = rnd({4}, 92);
  const Tensor bt = rnd({3, 6, 5}, 93).transpose(1, 2);  // (3, 5, 6)
  NoGradGuard no_grad;
  auto allocations = [](auto&& f) {
    const uint64_t before = cpu_allocator::stats().allocations;
    f();
    return cpu_allocator::stats().allocations - before;
  };
  EXPECT_EQ(allocations([&] { linear(x, w, b); }), 1u);
  EXPECT_EQ(allocations([&] { matmul(x, w.transpose(0, 1)); }), 1u);  // (2, 3, 5) @ (5, 4), one GEMM
  EXPECT_EQ(allocations([&] { matmul(x.select(0, 1), bt); }), 1u);    // (3, 5) @ (3, 5, 6) transposed batches
  EXPECT_EQ(allocations([&] { matmul(x.flip({2}), w.transpose(0, 1)); }), 2u);
}

TEST(Linear, GradcheckWithAndWithoutBias) {
  auto with_bias = [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); };
  auto no_bias = [](const std::vector<Tensor>& in) { return linear(in[0], in[1]); };
  expect_gradcheck("linear", with_bias, {randn_param({2, 3, 4}, 70), randn_param({5, 4}, 71), randn_param({5}, 72)});
  expect_gradcheck("linear", no_bias, {randn_param({3, 1}, 73), randn_param({2, 1}, 74)});
  expect_gradcheck("linear", with_bias, {randn_param({4}, 75), randn_param({3, 4}, 76), randn_param({3}, 77)});
  // Transposed weight and a non-collapsible x: gradients flow back through the views.
  expect_gradcheck(
      "linear",
      [](const std::vector<Tensor>& in) { return linear(in[0].transpose(0, 1), in[1].transpose(0, 1), in[2]); },
      {randn_param({3, 2, 4}, 78), randn_param({4, 5}, 79), randn_param({5}, 80)});
}

TEST(Linear, ErrorsNameShapes) {
  EXPECT_TRUE(throws_with(
      [] {
        linear(zeros({2, 5}), zeros({3, 4}));
      },
      "linear: input (2, 5) has 5 features but weight (3, 4) expects 4"));
  EXPECT_TRUE(throws_with([] { linear(zeros({2, 4}), zeros({4})); }, "weight (out, in)"));
  EXPECT_TRUE(throws_with(
      [] {
        linear(zeros({2, 4}), zeros({3, 4}), zeros({4}));
      },
      "linear: bias (4,) does not match weight (3, 4)"));
  EXPECT_TRUE(throws_with(
      [] {
        linear(zeros({2, 4}), zeros({3, 4}, DType::f64));
      },
      "linear: dtype mismatch: input float32, weight float64"));
}

TEST(Selfcheck, MlpLossFallsTenfold) {
  cli::SelfcheckOptions opt;
  opt.steps = 200;
  opt.print_every = 0;
  const cli::SelfcheckResult r = cli::run_selfcheck(opt);
  ASSERT_GE(r.losses.size(), 2u);
  EXPECT_TRUE(r.passed) << "first loss " << r.losses.front() << ", last " << r.losses.back();
  EXPECT_LT(r.losses.back() * 10, r.losses.front());
}

}  // namespace
}  // namespace hm::test
