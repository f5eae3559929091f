// Optimiser, schedules and clipping against hand-computed values.
#include <cmath>

#include "train/optim.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

TEST(Optim, AdamMatchesTheClosedFormFirstSteps) {
  Tensor w = from_vector<double>({1.0, -2.0}, {2});  // 1-D -> no decay by default
  w.requires_grad_();
  Adam opt({{"w", w}}, AdamConfig{0.1, 0.9, 0.999, 1e-8, 0.0, true});
  // First Adam step moves each weight by lr * sign(grad) (m_hat / sqrt(v_hat) = g / |g|).
  w.unsafe_impl()->grad = from_vector<double>({0.5, -3.0}, {2}).impl_ptr();
  opt.step(0.1);
  EXPECT_NEAR(w.to_vector<double>()[0], 0.9, 1e-7);
  EXPECT_NEAR(w.to_vector<double>()[1], -1.9, 1e-7);
  // Second step with the same gradient: still ~lr per step.
  opt.step(0.1);
  EXPECT_NEAR(w.to_vector<double>()[0], 0.8, 1e-6);
  // State round trip.
  Tensor w2 = from_vector<double>({0.8, -1.8}, {2});
  w2.requires_grad_();
  Adam opt2({{"w", w2}}, AdamConfig{});
  opt2.load_state(opt.state());
  EXPECT_EQ(opt2.steps(), 2);
  EXPECT_TRUE(throws_with([&] { opt2.load_state({}); }, "missing 'adam.step'"));
}

TEST(Optim, WeightDecayGroupsAndDecoupledDecay) {
  EXPECT_TRUE(default_decays("encoder.layers.0.fc1.weight", zeros({4, 4})));
  EXPECT_FALSE(default_decays("encoder.layers.0.fc1.bias", zeros({4})));
  EXPECT_FALSE(default_decays("encoder.layers.0.mixer.A_log", zeros({4, 16})));
  EXPECT_FALSE(default_decays("encoder.layers.0.mixer.D", zeros({4})));
  EXPECT_FALSE(default_decays("encoder.layer_norm.weight", zeros({4})));
  Tensor w = full({2, 2}, 1.0, DType::f64);
  w.requires_grad_();
  Adam opt({{"fc.weight", w}}, AdamConfig{0.1, 0.9, 0.98, 1e-6, 0.5, true});
  w.unsafe_impl()->grad = zeros({2, 2}, DType::f64).impl_ptr();
  opt.step(0.1);  // zero gradient: only the decoupled decay acts, w *= (1 - lr * wd)
  EXPECT_NEAR(w.to_vector<double>()[0], 0.95, 1e-12);
}

TEST(Optim, ClipGradNormScalesToMax) {
  Tensor a = zeros({2}, DType::f64), b = zeros({1}, DType::f64);
  a.requires_grad_();
  b.requires_grad_();
  a.unsafe_impl()->grad = from_vector<double>({3, 0}, {2}).impl_ptr();
  b.unsafe_impl()->grad = from_vector<double>({4}, {1}).impl_ptr();
  const NamedTensors p = {{"a", a}, {"b", b}};
  EXPECT_DOUBLE_EQ(grad_norm(p), 5.0);
  EXPECT_DOUBLE_EQ(clip_grad_norm(p, 1.0), 5.0);
  EXPECT_NEAR(grad_norm(p), 1.0, 1e-6);
  EXPECT_NEAR(clip_grad_norm(p, 10.0), 1.0, 1e-6);  // under the max: untouched
  b.unsafe_impl()->grad = from_vector<double>({NAN}, {1}).impl_ptr();
  EXPECT_TRUE(std::isnan(grad_norm(p)));
}

TEST(Optim, SchedulesFollowFairseq) {
  PolynomialDecaySchedule poly{1e-3, 0.0, 10, 110, 1.0};
  EXPECT_DOUBLE_EQ(poly.lr(0), 0.0);
  EXPECT_DOUBLE_EQ(poly.lr(5), 5e-4);
  EXPECT_DOUBLE_EQ(poly.lr(10), 1e-3);
  EXPECT_NEAR(poly.lr(60), 5e-4, 1e-15);
  EXPECT_DOUBLE_EQ(poly.lr(200), 0.0);
  TriStageSchedule tri{1e-3, 0.01, 0.05, 10, 5, 20};
  EXPECT_NEAR(tri.lr(0), 1e-5, 1e-15);
  EXPECT_NEAR(tri.lr(10), 1e-3, 1e-15);
  EXPECT_NEAR(tri.lr(14), 1e-3, 1e-15);
  EXPECT_NEAR(tri.lr(35), 5e-5, 1e-12);
  EXPECT_NEAR(tri.lr(100), 5e-5, 1e-15);
}

}  // namespace
}  // namespace hm::test
