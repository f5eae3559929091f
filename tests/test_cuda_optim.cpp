// conformance: adam_update — the CPU scalar Adam(W) update against the formula written out in the test.
// conformance: adam_update@cuda — every CUDA variant against the CPU scalar variant.
// conformance: sum_squares@cuda — the deterministic per-array sums of squares against a host sum.
// Plus the optimiser on a CUDA model's parameters: same trajectory as on the CPU.
#include <cmath>
#include <limits>

#include "ops/ops.h"
#include "ops/optimizer.h"
#include "train/optim.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

std::vector<double> randn_vec(int64_t n, uint64_t seed, double scale = 1.0) {
  Generator gen(seed);
  std::vector<double> v = randn({n}, DType::f64, gen).to_vector<double>();
  for (double& x : v) x *= scale;
  return v;
}

AdamHyper hyper(bool decoupled) {
  AdamHyper h;
  h.lr = 3e-3, h.beta1 = 0.9, h.beta2 = 0.98, h.eps = 1e-6, h.weight_decay = 0.05, h.decoupled = decoupled;
  h.bias_correction1 = 1 - std::pow(0.9, 3.0), h.bias_correction2 = 1 - std::pow(0.98, 3.0);
  return h;
}

TEST(AdamUpdate, ScalarMatchesTheFormula) {
  check_all_variants(adam_update_table(), [&](const std::string&, const AdamKernels& k) {
    for (bool decoupled : {true, false}) {
      const int64_t n = 37;
      std::vector<double> w = randn_vec(n, 1), g = randn_vec(n, 2), m = randn_vec(n, 3, 0.1), v = randn_vec(n, 4);
      for (double& x : v) x = x * x;
      const AdamHyper h = hyper(decoupled);
      std::vector<double> w2 = w, m2 = m, v2 = v;
      k.f64(w2.data(), g.data(), m2.data(), v2.data(), n, h);
      for (int64_t i = 0; i < n; ++i) {
        const double gi = g[i] + (decoupled ? 0 : h.weight_decay * w[i]);
        const double mi = 0.9 * m[i] + 0.1 * gi, vi = 0.98 * v[i] + 0.02 * gi * gi;
        double wi = w[i] - (decoupled ? h.lr * h.weight_decay * w[i] : 0);
        wi -= h.lr * (mi / h.bias_correction1) / (std::sqrt(vi / h.bias_correction2) + h.eps);
        EXPECT_NEAR(m2[i], mi, 1e-15);
        EXPECT_NEAR(v2[i], vi, 1e-15);
        EXPECT_NEAR(w2[i], wi, 1e-14);
      }
    }
  });
}

TEST(CudaOptim, AdamVariantsMatchTheCpuScalar) {
  HM_SKIP_WITHOUT_CUDA();
  check_all_variants(adam_update_cuda_table(), [&](const std::string&, const AdamKernels&) {
    for (DType dt : {DType::f32, DType::f64})
      for (int64_t n : {1, 5, 1000, 70001}) {
        const Tensor w = from_doubles(randn_vec(n, 5), {n}, dt), g = from_doubles(randn_vec(n, 6), {n}, dt);
        const Tensor m = from_doubles(randn_vec(n, 7, 0.1), {n}, dt);
        const Tensor v = mul(from_doubles(randn_vec(n, 8), {n}, dt), from_doubles(randn_vec(n, 8), {n}, dt));
        const Tensor cw = w.clone(), cm = m.clone(), cv = v.clone();
        adam_update(cw, g, cm, cv, hyper(true));  // CPU
        const Tensor dw = w.to(Device::cuda()), dm = m.to(Device::cuda()), dv = v.to(Device::cuda());
        adam_update(dw, g.to(Device::cuda()), dm, dv, hyper(true));
        const double tol = dt == DType::f32 ? 1e-6 : 1e-14;
        const auto a = dw.to_vector<double>(), b = cw.to_vector<double>();
        for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(a[i], b[i], tol * (1 + std::abs(b[i]))) << "w[" << i << "] n=" << n;
        const auto am = dm.to_vector<double>(), bm = cm.to_vector<double>();
        for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(am[i], bm[i], tol * (1 + std::abs(bm[i])));
      }
  });
}

TEST(CudaOptim, GlobalNormIsDeterministicAndMatchesTheHost) {
  HM_SKIP_WITHOUT_CUDA();
  check_all_variants(sum_squares_cuda_table(), [&](const std::string&, const SumSquaresKernels&) {
    std::vector<Tensor> host, dev;
    double ref = 0;
    for (int64_t n : {1, 7, 300, 100003}) {
      const std::vector<double> v = randn_vec(n, uint64_t(n));
      for (double x : v) ref += x * x;
      host.push_back(from_doubles(v, {n}, DType::f64));
      dev.push_back(host.back().to(Device::cuda()));
    }
    const double a = global_norm(dev), b = global_norm(dev);
    EXPECT_EQ(a, b);
    EXPECT_NEAR(a, std::sqrt(ref), 1e-12 * std::sqrt(ref));
    EXPECT_NEAR(global_norm(host), std::sqrt(ref), 1e-12 * std::sqrt(ref));
    dev.push_back(full({3}, std::numeric_limits<double>::quiet_NaN(), DType::f64, Device::cuda()));
    EXPECT_TRUE(std::isnan(global_norm(dev)));
  });
}

TEST(CudaOptim, AdamOnDeviceParametersFollowsTheCpuTrajectory) {
  HM_SKIP_WITHOUT_CUDA();
  Tensor wc = from_doubles(randn_vec(12, 9), {3, 4}, DType::f32).requires_grad_(true);
  Tensor wd = wc.detach().to(Device::cuda()).requires_grad_(true);
  Adam oc({{"w", wc}}, AdamConfig{}), od({{"w", wd}}, AdamConfig{});
  const Tensor target = from_doubles(randn_vec(12, 10), {3, 4}, DType::f32);
  for (int step = 0; step < 5; ++step) {
    for (auto [w, opt] : {std::pair{wc, &oc}, std::pair{wd, &od}}) {
      w.zero_grad();
      const Tensor d = sub(w, target.to(w.device()));
      sum(mul(d, d)).backward();
      clip_grad_norm(opt->params(), 0.5);
      opt->step(1e-2);
    }
  }
  const auto a = wd.to_vector<double>(), b = wc.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5);
}

}  // namespace
}  // namespace hm::test
