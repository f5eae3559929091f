// Loss ops (cross_entropy, ctc_loss): torch 1.13 fixtures in f64 and f32, float64 gradient checks, PyTorch's
// reduction / ignore_index / zero_infinity semantics, and error messages.
#include <cmath>
#include <limits>

#include "ops/ops.h"
#include "tests/normloss_fixtures.h"

namespace hm::test {
namespace {

const DType kDtypes[] = {DType::f64, DType::f32};

LossReduction reduction_of(const std::string& c) {
  if (c.find("none") != std::string::npos) return LossReduction::none;
  if (c.find("sum") != std::string::npos) return LossReduction::sum;
  return LossReduction::mean;
}

// log_softmax over the last dim as a test-local differentiable op, so that the CTC gradient check can perturb
// unconstrained logits (torch's CTC gradient is the gradient w.r.t. those logits, see ops/loss.h).
Tensor test_log_softmax(const Tensor& x_in) {
  const Tensor x = x_in.contiguous();
  const int64_t C = x.size(-1), rows = x.numel() / C;
  Tensor y = empty_like(x);
  const double* px = x.data<double>();
  double* py = y.data<double>();
  for (int64_t r = 0; r < rows; ++r) {
    double m = px[r * C], s = 0;
    for (int64_t c = 1; c < C; ++c) m = std::max(m, px[r * C + c]);
    for (int64_t c = 0; c < C; ++c) s += std::exp(px[r * C + c] - m);
    for (int64_t c = 0; c < C; ++c) py[r * C + c] = px[r * C + c] - m - std::log(s);
  }
  record("test_log_softmax", {x}, {y},
         [yd = y.detach(), rows, C](const std::vector<Tensor>& g, const std::vector<bool>&) {
           const Tensor gc = g[0].contiguous();
           Tensor dx = empty_like(yd);
           for (int64_t r = 0; r < rows; ++r) {
             double s = 0;
             for (int64_t c = 0; c < C; ++c) s += gc.data<double>()[r * C + c];
             for (int64_t c = 0; c < C; ++c)
               dx.data<double>()[r * C + c] = gc.data<double>()[r * C + c] - std::exp(yd.data<double>()[r * C + c]) * s;
           }
           return std::vector<Tensor>{dx};
         });
  return y;
}

Tensor i64(const std::vector<int64_t>& v) { return from_vector<int64_t>(v, {int64_t(v.size())}); }

// ---- cross_entropy -------------------------------------------------------------------------------------------
TEST(Loss, cross_entropy_MatchesTorchFixtures) {
  for (DType dt : kDtypes)
    for (const char* c :
         {"cross_entropy_mean_weighted", "cross_entropy_sum", "cross_entropy_none_weighted", "cross_entropy_ignore2"}) {
      SCOPED_TRACE(std::string(c) + " " + dtype_name(dt));
      const std::string name(c);
      Tensor x = fixture_param(c, "x", dt);
      Tensor w = name.find("weighted") != std::string::npos ? fixture(c, "w").to(dt) : Tensor();
      Tensor y = cross_entropy(x, fixture(c, "t"), w, int64_t(fixture(c, "ignore").item()), reduction_of(name));
      const Tol tol = tol_for(dt);
      EXPECT_TRUE(matches(y, fixture(c, "y"), tol.atol, tol.rtol));
      y.backward(fixture(c, "gy").to(dt));
      EXPECT_TRUE(matches(x.grad(), fixture(c, "gx"), tol.atol, tol.rtol));
    }
}

TEST(Loss, cross_entropy_Gradcheck) {
  Tensor x = randn_param({6, 5}, 61, DType::f64, 2.0);
  Tensor t = i64({0, 4, -100, 2, 2, 1});
  Tensor w = from_doubles({0.5, 1.0, 2.0, 0.3, 1.5}, {5}, DType::f64);
  for (LossReduction r : {LossReduction::none, LossReduction::mean, LossReduction::sum}) {
    expect_gradcheck("cross_entropy",
                     [&](const std::vector<Tensor>& in) { return cross_entropy(in[0], t, w, -100, r); }, {x});
    expect_gradcheck("cross_entropy",
                     [&](const std::vector<Tensor>& in) { return cross_entropy(in[0], t, Tensor(), -100, r); }, {x});
  }
  Tensor x1 = randn_param({1, 1}, 62);  // one row, one class: loss 0 and gradient 0
  expect_gradcheck("cross_entropy", [](const std::vector<Tensor>& in) { return cross_entropy(in[0], i64({0})); }, {x1});
}

TEST(Loss, cross_entropy_SemanticsAndErrors) {
  Tensor x = randn_param({3, 4}, 63);
  // Every target ignored: torch's mean is 0 / 0 = NaN, the sum 0.
  EXPECT_TRUE(std::isnan(cross_entropy(x, i64({-100, -100, -100})).item()));
  EXPECT_EQ(cross_entropy(x, i64({-100, -100, -100}), Tensor(), -100, LossReduction::sum).item(), 0.0);
  // Large logits stay finite (max-shifted log-sum-exp).
  Tensor big = from_doubles({1000, 0, -1000, 999}, {1, 4}, DType::f32);
  EXPECT_NEAR(cross_entropy(big, i64({3})).item(), 1.0 + std::log1p(std::exp(-1.0)), 1e-4);
  EXPECT_TRUE(throws_with([&] { cross_entropy(x, i64({0, 4, 1})); }, "target 4 at position 1 is out of range for 4"));
  EXPECT_TRUE(throws_with([&] { cross_entropy(x, i64({0, -1, 1})); }, "target -1 at position 1"));
  EXPECT_TRUE(throws_with([&] { cross_entropy(x, i64({0, 1})); }, "target must have shape (3,)"));
  EXPECT_TRUE(throws_with([&] { cross_entropy(x, zeros({3}, DType::f64)); }, "int64 or int32"));
  EXPECT_TRUE(throws_with(
      [&] {
        cross_entropy(x, i64({0, 1, 2}), zeros({3}, DType::f64));
      },
      "weight must have shape (4,)"));
  EXPECT_TRUE(throws_with([&] { cross_entropy(x, i64({0, 1, 2}), randn_param({4}, 64)); }, "class weights"));
  EXPECT_TRUE(throws_with([] { cross_entropy(zeros({2, 3, 4}), i64({0, 1})); }, "(N, C)"));
}

// ---- ctc_loss ------------------------------------------------------------------------------------------------
TEST(Loss, ctc_loss_MatchesTorchFixtures) {
  for (DType dt : kDtypes)
    for (const char* c : {"ctc_none", "ctc_none_zeroinf", "ctc_mean_zeroinf", "ctc_sum_concat", "ctc_mean"}) {
      SCOPED_TRACE(std::string(c) + " " + dtype_name(dt));
      Tensor lp = fixture_param(c, "lp", dt);
      Tensor y = ctc_loss(lp, fixture(c, "targets"), fixture(c, "il"), fixture(c, "tl"), 0, reduction_of(c),
                          fixture(c, "zero_inf").item() != 0);
      const Tol tol = dt == DType::f64 ? Tol{1e-9, 1e-9} : Tol{1e-4, 1e-4};
      EXPECT_TRUE(matches(y, fixture(c, "y"), tol.atol, tol.rtol));
      y.backward(fixture(c, "gy").to(dt));
      // Includes torch's NaN gradient for the infeasible element of ctc_none (no zero_infinity).
      EXPECT_TRUE(matches(lp.grad(), fixture(c, "glp"), tol.atol, tol.rtol));
    }
}

TEST(Loss, ctc_loss_Gradcheck) {
  // Through a log_softmax of free logits (see test_log_softmax). Varied lengths, a repeated label, an empty target,
  // an infeasible element (3 labels with a repeat in 3 frames), every reduction, zero_infinity on and off.
  Tensor logits = randn_param({6, 4, 5}, 71);
  Tensor targets = from_vector<int64_t>({1, 2, 2, 3, 1, 0, 4, 4, 4, 1, 1, 3}, {4, 3});
  Tensor il = i64({6, 5, 4, 3}), tl = i64({3, 2, 0, 3});
  for (LossReduction r : {LossReduction::none, LossReduction::mean, LossReduction::sum}) {
    expect_gradcheck("ctc_loss",
                     [&](const std::vector<Tensor>& in) {
                       return ctc_loss(test_log_softmax(in[0]), targets, il, tl, 0, r, /*zero_infinity=*/true);
                     },
                     {logits});
  }
  // Feasible elements only, zero_infinity off, concatenated targets, blank = 4.
  Tensor il2 = i64({6, 4, 5}), tl2 = i64({2, 1, 3});
  Tensor concat = i64({0, 1, 3, 2, 2, 1});
  Tensor logits2 = randn_param({6, 3, 5}, 72);
  expect_gradcheck("ctc_loss",
                   [&](const std::vector<Tensor>& in) {
                     return ctc_loss(test_log_softmax(in[0]), concat, il2, tl2, 4, LossReduction::sum, false);
                   },
                   {logits2});
}

TEST(Loss, ctc_loss_SemanticsAndParallelAgreement) {
  // Empty input: loss 0 for an empty target, inf otherwise (torch 1.13 reads outside alpha there).
  Tensor lp = test_log_softmax(randn_param({4, 2, 3}, 73)).detach();
  Tensor y = ctc_loss(lp, from_vector<int64_t>({1, 2, 1, 2}, {2, 2}), i64({0, 0}), i64({0, 1}), 0, LossReduction::none);
  EXPECT_EQ(y.to_vector<double>()[0], 0.0);
  EXPECT_EQ(y.to_vector<double>()[1], std::numeric_limits<double>::infinity());
  // One frame, one label: -log p(label).
  Tensor lp1 = test_log_softmax(randn_param({1, 1, 3}, 74)).detach();
  EXPECT_NEAR(ctc_loss(lp1, i64({2}), i64({1}), i64({1}), 0, LossReduction::sum).item(), -lp1.to_vector<double>()[2],
              1e-12);
  // A batch large enough to run in parallel equals the same elements one at a time; f32 follows f64.
  const int64_t T = 40, B = 12, C = 7, S = 9;
  Generator gen(75);
  Tensor big = test_log_softmax(randn({T, B, C}, DType::f64, gen)).detach();
  std::vector<int64_t> tg(size_t(B * S)), ilv(static_cast<size_t>(B)), tlv(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    ilv[size_t(b)] = T - b;
    tlv[size_t(b)] = 1 + b % S;
    for (int64_t s = 0; s < S; ++s) tg[size_t(b * S + s)] = 1 + int64_t(gen.next_below(C - 1));
  }
  Tensor targets = from_vector<int64_t>(tg, {B, S});
  Tensor all = ctc_loss(big, targets, i64(ilv), i64(tlv), 0, LossReduction::none);
  for (int64_t b = 0; b < B; ++b) {
    Tensor one = ctc_loss(big.narrow(1, b, 1), targets.narrow(0, b, 1), i64({ilv[size_t(b)]}), i64({tlv[size_t(b)]}), 0,
                          LossReduction::none);
    EXPECT_EQ(one.item(), all.to_vector<double>()[size_t(b)]) << b;
  }
  Tensor all32 = ctc_loss(big.to(DType::f32), targets, i64(ilv), i64(tlv), 0, LossReduction::none);
  EXPECT_TRUE(all_close(all32, all, 1e-3, 1e-4));
}

TEST(Loss, ctc_loss_Errors) {
  Tensor lp = zeros({5, 2, 4});
  Tensor tg = from_vector<int64_t>({1, 2, 3, 1, 2, 3}, {2, 3});
  EXPECT_TRUE(throws_with(
      [&] {
        ctc_loss(lp, tg, i64({6, 5}), i64({2, 2}));
      },
      "input_lengths[0] = 6 is outside [0, T = 5]"));
  EXPECT_TRUE(throws_with(
      [&] {
        ctc_loss(lp, tg, i64({5, 5}), i64({2, 4}));
      },
      "target_lengths[1] = 4 exceeds the padded target length S = 3"));
  EXPECT_TRUE(throws_with(
      [&] {
        ctc_loss(lp, from_vector<int64_t>({1, 2, 3, 1, 7, 3}, {2, 3}), i64({5, 5}), i64({2, 3}));
      },
      "target 7 (element 1, position 1) is out of range for 4 classes"));
  EXPECT_TRUE(throws_with([&] { ctc_loss(lp, tg, i64({5, 5}), i64({2, 2}), 4); }, "blank 4 is out of range"));
  EXPECT_TRUE(throws_with([&] { ctc_loss(lp, tg, i64({5}), i64({2, 2})); }, "input_lengths must have shape (2,)"));
  EXPECT_TRUE(throws_with(
      [&] {
        ctc_loss(lp, i64({1, 2, 3}), i64({5, 5}), i64({2, 2}));
      },
      "concatenated targets have 3 labels but target_lengths sum to 4"));
  EXPECT_TRUE(throws_with([&] { ctc_loss(zeros({5, 4}), tg, i64({5, 5}), i64({2, 2})); }, "(T, B, C)"));
  // NaN in a used frame is named; NaN past input_lengths is ignored (torch never reads it either).
  Tensor nan_lp = full({5, 2, 4}, -1.0);
  nan_lp.data<float>()[(4 * 2 + 1) * 4 + 2] = std::nanf("");
  EXPECT_TRUE(throws_with(
      [&] {
        ctc_loss(nan_lp, tg, i64({5, 5}), i64({2, 2}));
      },
      "contains NaN at (t = 4, b = 1, c = 2)"));
  EXPECT_NO_THROW(ctc_loss(nan_lp, tg, i64({5, 4}), i64({2, 2})));
}

}  // namespace
}  // namespace hm::test
