// Selective scan op tests: a direct forward loop, float64 gradient checks of every input (both kernel variants),
// determinism across thread counts, input validation, and parity with the PyTorch reference loop
// (tools/reference/fixtures_selective_scan.py -> tests/fixtures/selective_scan/).
#include <cmath>
#include <string>
#include <vector>

#include "cpu/parallel.h"
#include "engine/npy.h"
#include "ops/selective_scan.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

// Select one selective_scan kernel variant for a scope.
class ScanVariant {
 public:
  explicit ScanVariant(const std::string& variant) : previous_(selective_scan_table().selected()) {
    set_kernel_overrides("selective_scan=" + variant);
  }
  ~ScanVariant() { set_kernel_overrides("selective_scan=" + previous_); }
  ScanVariant(const ScanVariant&) = delete;
  ScanVariant& operator=(const ScanVariant&) = delete;

 private:
  std::string previous_;
};

// Every registered variant: the op-level tests below run once per kernel.
std::vector<std::string> variants() { return selective_scan_table().variants(); }

struct Config {
  int64_t B, D, L, N;
  bool z, Dskip, bias, softplus;
  double delta_shift = 0;  // delta = 0.5 * randn + shift
};

// The op's arguments; optional ones are undefined when the config leaves them out.
struct Args {
  Tensor u, delta, A_log, Bm, Cm, Dskip, z, bias;
  bool softplus = false;
  std::vector<Tensor> list() const { return {u, delta, A_log, Bm, Cm, Dskip, z, bias}; }
};

Tensor param(const Shape& shape, uint64_t seed, DType dtype, double scale, double shift = 0) {
  Tensor t = randn_param(shape, seed, DType::f64, scale).detach();
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] += shift;
  Tensor out = t.to(dtype);
  out.requires_grad_(true);
  return out;
}

Args make_args(const Config& c, uint64_t seed, DType dtype = DType::f64) {
  Args a;
  // Without softplus keep delta mostly positive, as a step size is (exp(delta * A) stays a decay).
  a.u = param({c.B, c.D, c.L}, seed, dtype, 1.0);
  a.delta = param({c.B, c.D, c.L}, seed + 1, dtype, 0.5, c.delta_shift + (c.softplus ? 0.0 : 0.6));
  a.A_log = param({c.D, c.N}, seed + 2, dtype, 0.5);
  a.Bm = param({c.B, c.N, c.L}, seed + 3, dtype, 1.0);
  a.Cm = param({c.B, c.N, c.L}, seed + 4, dtype, 1.0);
  if (c.Dskip) a.Dskip = param({c.D}, seed + 5, dtype, 1.0);
  if (c.z) a.z = param({c.B, c.D, c.L}, seed + 6, dtype, 1.0);
  if (c.bias) a.bias = param({c.D}, seed + 7, dtype, 0.3);
  a.softplus = c.softplus;
  return a;
}

SelectiveScanResult run(const std::vector<Tensor>& x, bool softplus, bool last_state) {
  return selective_scan(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], softplus, last_state);
}

// The SPEC.md 2 loop written directly on tensors' values (independent of both kernels).
void naive_forward(const Args& a, std::vector<double>& out, std::vector<double>& last) {
  const int64_t B = a.u.size(0), D = a.u.size(1), L = a.u.size(2), N = a.A_log.size(1);
  auto v = [](const Tensor& t) { return t.defined() ? t.to_vector<double>() : std::vector<double>(); };
  const auto u = v(a.u), delta = v(a.delta), A_log = v(a.A_log), Bm = v(a.Bm), Cm = v(a.Cm);
  const auto Dskip = v(a.Dskip), z = v(a.z), bias = v(a.bias);
  out.assign(size_t(B * D * L), 0.0);
  last.assign(size_t(B * D * N), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t d = 0; d < D; ++d) {
      std::vector<double> h(size_t(N), 0.0);
      for (int64_t t = 0; t < L; ++t) {
        const int64_t i = (b * D + d) * L + t;
        double dt = delta[i] + (bias.empty() ? 0.0 : bias[d]);
        if (a.softplus) dt = dt > 20 ? dt : std::log1p(std::exp(dt));
        double y = 0;
        for (int64_t n = 0; n < N; ++n) {
          h[n] = std::exp(dt * -std::exp(A_log[d * N + n])) * h[n] + dt * Bm[(b * N + n) * L + t] * u[i];
          y += h[n] * Cm[(b * N + n) * L + t];
        }
        y += Dskip.empty() ? 0.0 : u[i] * Dskip[d];
        out[i] = z.empty() ? y : y * z[i] / (1 + std::exp(-z[i]));
      }
      for (int64_t n = 0; n < N; ++n) last[(b * D + d) * N + n] = h[n];
    }
}

TEST(SelectiveScan, ForwardMatchesDirectLoop) {
  const std::vector<Config> configs = {
      {1, 1, 1, 1, false, false, false, false}, {2, 3, 5, 4, true, true, true, true},
      {1, 2, 1, 16, true, false, true, true},   {3, 1, 130, 5, false, true, false, true},
      {2, 4, 67, 16, true, true, true, false},
  };
  uint64_t seed = 1;
  for (const Config& c : configs)
    for (DType dtype : {DType::f32, DType::f64})
      for (const std::string& variant : variants()) {
        SCOPED_TRACE(::testing::Message() << variant << " " << dtype_name(dtype) << " L " << c.L << " N " << c.N);
        ScanVariant use(variant);
        const Args a = make_args(c, seed += 10, dtype);
        std::vector<double> out, last;
        naive_forward(a, out, last);
        const SelectiveScanResult r = run(a.list(), a.softplus, true);
        const double tol = dtype == DType::f32 ? 1e-4 : 1e-12;
        EXPECT_TRUE(all_close(r.out, from_doubles(out, r.out.shape(), dtype), tol, tol));
        EXPECT_TRUE(all_close(r.last_state, from_doubles(last, r.last_state.shape(), dtype), tol, tol));
        EXPECT_FALSE(run(a.list(), a.softplus, false).last_state.defined());
      }
}

// Float64 central differences for every input, both variants. Lengths 1, 2, 7, 129 (crosses two 64-step
// recompute chunks, last chunk of length 1) and 70 (not a multiple of the chunk); N in {1, 4, 16} and 5 (not a
// multiple of any vector width); with and without z / Dskip / delta_bias / softplus; large and tiny delta.
TEST(SelectiveScan, GradcheckAllInputs) {
  const std::vector<Config> configs = {
      {2, 3, 7, 4, true, true, true, true},
      {1, 1, 1, 1, false, false, false, false},
      {1, 2, 2, 16, true, false, true, true},
      {1, 2, 129, 16, true, true, true, true},
      {1, 1, 70, 5, false, true, false, false},
      {2, 2, 9, 4, true, true, true, true, 25.0},   // softplus linear branch (delta + bias > 20)
      {2, 2, 9, 1, true, true, true, true, -12.0},  // tiny steps (softplus ~ 1e-5)
  };
  uint64_t seed = 300;
  for (const Config& c : configs)
    for (const std::string& variant : variants()) {
      SCOPED_TRACE(::testing::Message() << variant << " B " << c.B << " D " << c.D << " L " << c.L << " N " << c.N
                                        << " delta_shift " << c.delta_shift);
      ScanVariant use(variant);
      const Args a = make_args(c, seed += 10);
      const bool softplus = a.softplus;
      const auto out = [softplus](const std::vector<Tensor>& x) { return run(x, softplus, false).out; };
      expect_gradcheck("selective_scan", out, a.list());
    }
}

// The gradient that enters through the returned last state (dlast) and through out at the same time.
TEST(SelectiveScan, GradcheckLastState) {
  uint64_t seed = 700;
  for (const Config& c : {Config{2, 2, 7, 4, true, true, true, true}, Config{1, 2, 129, 16, false, true, true, true}})
    for (const std::string& variant : variants()) {
      SCOPED_TRACE(variant + " L " + std::to_string(c.L));
      ScanVariant use(variant);
      const Args a = make_args(c, seed += 10);
      const auto last_state = [](const std::vector<Tensor>& x) { return run(x, true, true).last_state; };
      expect_gradcheck("selective_scan", last_state, a.list());
      // out and last_state both feed the loss: sum(w1 * out) + sum(w2 * last_state) via a second backward root.
      for (const Tensor& t : a.list())
        if (t.defined()) const_cast<Tensor&>(t).zero_grad();
      const SelectiveScanResult r = run(a.list(), true, true);
      run_backward({r.out, r.last_state}, {ones(r.out.shape(), DType::f64), ones(r.last_state.shape(), DType::f64)},
                   false);
      const std::vector<Tensor> xs = a.list();
      std::vector<Tensor> both;
      for (const Tensor& t : xs) both.push_back(t.defined() ? t.grad() : Tensor());
      for (const Tensor& t : xs)
        if (t.defined()) const_cast<Tensor&>(t).zero_grad();
      run(xs, true, false).out.backward(ones({c.B, c.D, c.L}, DType::f64));
      std::vector<Tensor> from_out;
      for (const Tensor& t : xs) from_out.push_back(t.defined() ? t.grad() : Tensor());
      for (const Tensor& t : xs)
        if (t.defined()) const_cast<Tensor&>(t).zero_grad();
      run(xs, true, true).last_state.backward(ones({c.B, c.D, c.N}, DType::f64));
      for (size_t i = 0; i < both.size(); ++i) {
        if (!both[i].defined()) continue;
        const std::vector<double> s = both[i].to_vector<double>(), p = from_out[i].to_vector<double>(),
                                  q = xs[i].grad().to_vector<double>();
        for (size_t j = 0; j < s.size(); ++j) ASSERT_NEAR(s[j], p[j] + q[j], 1e-10 * (1 + std::abs(s[j]))) << i;
      }
    }
}

// Outputs and gradients of every variant are bit-identical for 1 and 2 threads (fixed-order partial
// reductions); the shape is big enough for the kernels to go parallel.
TEST(SelectiveScan, GradientsAreDeterministicAcrossThreadCounts) {
  const int threads = cpu::num_threads();
  const Args a = make_args({3, 130, 100, 16, true, true, true, true}, 900, DType::f32);
  for (const std::string& variant : variants()) {
    SCOPED_TRACE(variant);
    ScanVariant use(variant);
    std::vector<std::vector<float>> results[2];
    for (int run_index = 0; run_index < 2; ++run_index) {
      cpu::set_num_threads(run_index + 1);
      for (const Tensor& t : a.list()) const_cast<Tensor&>(t).zero_grad();
      const SelectiveScanResult r = run(a.list(), true, true);
      run_backward({r.out, r.last_state}, {ones(r.out.shape()), ones(r.last_state.shape())}, false);
      results[run_index].push_back(r.out.to_vector<float>());
      for (const Tensor& t : a.list()) results[run_index].push_back(t.grad().to_vector<float>());
    }
    cpu::set_num_threads(threads);
    for (size_t i = 0; i < results[0].size(); ++i) EXPECT_EQ(results[0][i], results[1][i]) << "tensor " << i;
  }
}

// Strided views (the Mamba block transposes (B, L, D) activations) give the same outputs and gradients as
// contiguous copies, and inputs that do not require grad get none.
TEST(SelectiveScan, AcceptsViewsAndPartialRequiresGrad) {
  const Args a = make_args({2, 3, 9, 4, true, true, true, true}, 77);
  Tensor u_t = a.u.detach().transpose(1, 2).contiguous();  // (B, L, D)
  u_t.requires_grad_(true);
  Tensor Bm = a.Bm.detach();  // no grad wanted
  const auto r = selective_scan(u_t.transpose(1, 2), a.delta, a.A_log, Bm, a.Cm, a.Dskip, a.z, a.bias, true);
  const auto ref = run(a.list(), true, false);
  EXPECT_TRUE(all_close(r.out, ref.out, 1e-12, 1e-12));
  r.out.backward(ones(r.out.shape(), DType::f64));
  ref.out.backward(ones(ref.out.shape(), DType::f64));
  EXPECT_TRUE(all_close(u_t.grad().transpose(1, 2).contiguous(), a.u.grad(), 1e-12, 1e-12));
  EXPECT_FALSE(Bm.grad().defined());
  EXPECT_TRUE(a.A_log.grad().defined());
}

TEST(SelectiveScan, RejectsBadInputsNamingTheTensor) {
  const Args a = make_args({2, 3, 5, 4, true, true, true, true}, 42);
  auto call = [&](Args b) { return [b] { selective_scan(b.u, b.delta, b.A_log, b.Bm, b.Cm, b.Dskip, b.z, b.bias); }; };
  Args bad = a;
  bad.delta = zeros({2, 3, 6}, DType::f64);
  EXPECT_TRUE(throws_with(call(bad), "selective_scan: delta has shape (2, 3, 6) but expected (B, D, L) = (2, 3, 5)"));
  bad = a;
  bad.Bm = zeros({2, 5, 5}, DType::f64);
  EXPECT_TRUE(throws_with(call(bad), "Bm has shape (2, 5, 5) but expected (B, N, L) = (2, 4, 5)"));
  bad = a;
  bad.Cm = zeros({2, 4, 5}, DType::f32);
  EXPECT_TRUE(throws_with(call(bad), "Cm is float32 but u is float64"));
  bad = a;
  bad.A_log = zeros({4, 4}, DType::f64);
  EXPECT_TRUE(throws_with(call(bad), "A_log has shape (4, 4) but expected (D, N) = (3, 4)"));
  bad = a;
  bad.Dskip = zeros({4}, DType::f64);
  EXPECT_TRUE(throws_with(call(bad), "Dskip has shape (4,) but expected (D) = (3,)"));
  bad = a;
  bad.z = zeros({2, 3}, DType::f64);
  EXPECT_TRUE(throws_with(call(bad), "z has shape (2, 3)"));
  bad = a;
  bad.bias = zeros({3, 1}, DType::f64);
  EXPECT_TRUE(throws_with(call(bad), "delta_bias has shape (3, 1)"));
  bad = a;
  bad.u = zeros({3, 5}, DType::f64);
  EXPECT_TRUE(throws_with(call(bad), "u must be (B, D, L), got shape (3, 5)"));
  bad = a;
  bad.u = zeros({2, 3, 5}, DType::i32);
  EXPECT_TRUE(throws_with(call(bad), "expected float32 or float64"));
}

// Parity with the PyTorch reference loop (mamba_ssm's selective_scan_ref semantics, autograd gradients).
TEST(SelectiveScan, MatchesPyTorchFixture) {
  const std::string dir = std::string(HM_SOURCE_DIR) + "/tests/fixtures/selective_scan/";
  for (const std::string name : {"full", "plain"}) {
    const std::string p = dir + name + "_";
    auto load = [&](const std::string& f) { return load_npy(p + f + ".npy"); };
    const bool has_extras = name == "full";  // "full": z, Dskip, delta_bias, softplus; "plain": none of them
    Args a;
    a.u = load("u"), a.delta = load("delta"), a.A_log = load("A_log"), a.Bm = load("Bm"), a.Cm = load("Cm");
    if (has_extras) a.Dskip = load("Dskip"), a.z = load("z"), a.bias = load("delta_bias");
    a.softplus = has_extras;
    const std::vector<std::string> grad_names = {"u", "delta", "A_log", "Bm", "Cm", "Dskip", "z", "delta_bias"};
    for (const std::string& variant : variants()) {
      SCOPED_TRACE(name + " " + variant);
      ScanVariant use(variant);
      for (const Tensor& t : a.list())
        if (t.defined()) const_cast<Tensor&>(t).zero_grad(), const_cast<Tensor&>(t).requires_grad_(true);
      const SelectiveScanResult r = run(a.list(), a.softplus, true);
      EXPECT_TRUE(all_close(r.out, load("out"), 1e-5, 1e-5));
      EXPECT_TRUE(all_close(r.last_state, load("last_state"), 1e-5, 1e-5));
      run_backward({r.out, r.last_state}, {load("dout"), load("dlast")}, false);
      const std::vector<Tensor> xs = a.list();
      for (size_t i = 0; i < grad_names.size(); ++i) {
        if (!xs[i].defined()) continue;
        SCOPED_TRACE("grad " + grad_names[i]);
        EXPECT_TRUE(all_close(xs[i].grad(), load("grad_" + grad_names[i]), 1e-5, 1e-5));
      }
    }
  }
}

}  // namespace
}  // namespace hm::test
