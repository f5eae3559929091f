// Shared helpers for the test suite: random inputs, closeness checks, error-message checks, and the generic
// float64 central-difference gradient checker every op test uses (DESIGN.md 6, tier 1).
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/rng.h"
#include "engine/tensor.h"

// First statement of every test that needs a GPU: without one (or in a CPU-only build) the test is reported as
// skipped with the reason, never silently passed. (A macro because GTEST_SKIP must return from the test body.)
#define HM_SKIP_WITHOUT_CUDA()                                                         \
  do {                                                                                 \
    if (!::hm::device_available(::hm::DeviceType::cuda)) GTEST_SKIP() << "skipped: no GPU"; \
  } while (0)

namespace hm::test {

// Random normal tensor (f64 by default) that requires grad, from a fixed seed.
inline Tensor randn_param(const Shape& shape, uint64_t seed, DType dtype = DType::f64, double scale = 1.0) {
  Generator gen(seed);
  Tensor t = randn(shape, DType::f64, gen);
  if (scale != 1.0) {
    double* p = t.data<double>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] *= scale;
  }
  Tensor out = t.to(dtype);
  out.requires_grad_(true);
  return out;
}

// Push every element at least `margin` away from each point in `kinks` (for relu, abs, max ties, ...).
inline void avoid_kinks(const Tensor& t, const std::vector<double>& kinks, double margin) {
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i)
    for (double k : kinks)
      if (std::abs(p[i] - k) < margin) p[i] = k + (p[i] >= k ? margin : -margin);
}

// |a - b| <= atol + rtol * |b| elementwise; reports the worst element.
inline ::testing::AssertionResult all_close(const Tensor& a, const Tensor& b, double atol, double rtol) {
  if (a.shape() != b.shape())
    return ::testing::AssertionFailure() << "shape " << shape_str(a.shape()) << " vs " << shape_str(b.shape());
  NoGradGuard ng;
  const std::vector<double> x = a.detach().to_vector<double>(), y = b.detach().to_vector<double>();
  double worst = 0;
  int64_t worst_i = -1;
  for (size_t i = 0; i < x.size(); ++i) {
    const double err = std::abs(x[i] - y[i]);
    const double tol = atol + rtol * std::abs(y[i]);
    if (!(err <= tol) && (worst_i < 0 || err - tol > worst)) {
      worst = err - tol;
      worst_i = int64_t(i);
    }
  }
  if (worst_i < 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "element " << worst_i << ": " << x[worst_i] << " vs " << y[worst_i]
                                       << " (atol " << atol << ", rtol " << rtol << ")";
}

// Expect fn() to throw hm::Error whose message contains `fragment`.
template <class F>
::testing::AssertionResult throws_with(F&& fn, const std::string& fragment) {
  try {
    fn();
  } catch (const Error& e) {
    if (std::string(e.what()).find(fragment) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "message '" << e.what() << "' lacks '" << fragment << "'";
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-hm::Error: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw (expected '" << fragment << "')";
}

struct GradcheckOptions {
  double eps = 1e-6;   // central-difference step
  double atol = 1e-6;
  double rtol = 1e-5;
};

// Float64 gradient check for op `op_name` (the name must match the op's registration so the coverage test can
// find it). f maps the inputs to one output tensor; inputs that require grad are checked. The scalar loss is
// sum(w * f(x)) with a fixed random w, so every output element and every input element is exercised.
inline void expect_gradcheck(const char* op_name, const std::function<Tensor(const std::vector<Tensor>&)>& f,
                             const std::vector<Tensor>& inputs, GradcheckOptions opt = {}) {
  SCOPED_TRACE(std::string("gradcheck ") + op_name);
  for (const Tensor& t : inputs) {
    if (!t.defined() || !t.requires_grad()) continue;
    ASSERT_EQ(t.dtype(), DType::f64) << "gradcheck inputs must be float64";
    ASSERT_TRUE(t.is_contiguous() && t.is_leaf());
  }
  for (const Tensor& t : inputs)
    if (t.defined()) const_cast<Tensor&>(t).zero_grad();
  Tensor y = f(inputs);
  ASSERT_TRUE(y.requires_grad()) << op_name << ": output does not require grad";
  Generator gen(1234);
  Tensor w = randn(y.shape(), y.dtype(), gen);
  y.backward(w);

  auto loss = [&]() {
    NoGradGuard ng;
    Tensor out = f(inputs).contiguous();
    const double* po = out.data<double>();
    const double* pw = w.data<double>();
    double s = 0;
    for (int64_t i = 0; i < out.numel(); ++i) s += po[i] * pw[i];
    return s;
  };

  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.defined() || !x.requires_grad()) continue;
    ASSERT_TRUE(x.grad().defined()) << op_name << ": no gradient reached input " << k;
    const std::vector<double> analytic = x.grad().to_vector<double>();
    double* px = x.data<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double saved = px[i];
      px[i] = saved + opt.eps;
      const double up = loss();
      px[i] = saved - opt.eps;
      const double down = loss();
      px[i] = saved;
      const double numeric = (up - down) / (2 * opt.eps);
      ASSERT_NEAR(analytic[i], numeric, opt.atol + opt.rtol * std::abs(numeric))
          << op_name << ": input " << k << " element " << i << " of shape " << shape_str(x.shape());
    }
  }
}

}  // namespace hm::test

#include "ops/registry.h"

namespace hm::test {

// Run check(variant_name, fn) for every registered variant of a kernel table, "scalar" included (the caller
// compares each against the scalar reference). The coverage test greps for `check_all_variants(table_name(),`
// style calls: pass the table object whose op() is the table name.
template <class Fn, class Check>
void check_all_variants(const KernelTable<Fn>& table, Check&& check) {
  const auto names = table.variants();
  ASSERT_FALSE(names.empty()) << table.op() << ": no variants";
  // CPU tables carry their own reference; a CUDA table's reference is the CPU table's "scalar" variant, which the
  // caller's check compares against.
  if (table.device() == DeviceType::cpu) {
    ASSERT_NE(std::find(names.begin(), names.end(), "scalar"), names.end())
        << table.op() << ": every kernel table needs a \"scalar\" reference variant";
  }
  for (const std::string& v : names) {
    SCOPED_TRACE("kernel " + table.name() + "=" + v);
    check(v, table.get(v));
  }
}

}  // namespace hm::test
