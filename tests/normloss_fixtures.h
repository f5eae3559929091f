// Helpers shared by tests/test_norm.cpp and tests/test_loss.cpp: loading the torch 1.13 fixtures written by
// tools/reference/fixtures_normloss.py and comparing with NaN / inf treated as values (torch's CTC gradient is NaN
// for infeasible elements, and the loss is inf).
#pragma once
#include <cmath>
#include <string>

#include "engine/npy.h"
#include "tests/test_util.h"

namespace hm::test {

inline Tensor fixture(const std::string& case_name, const std::string& array) {
  return load_npy(std::string(HM_SOURCE_DIR) + "/tests/fixtures/normloss/" + case_name + "_" + array + ".npy");
}

// A fixture array converted to `dt`, as a leaf that requires grad.
inline Tensor fixture_param(const std::string& case_name, const std::string& array, DType dt) {
  Tensor t = fixture(case_name, array).to(dt);  // no grad history yet, so still a leaf
  t.requires_grad_(true);
  return t;
}

// all_close, except that NaN matches NaN and inf matches an inf of the same sign.
inline ::testing::AssertionResult matches(const Tensor& got, const Tensor& want, double atol, double rtol) {
  if (got.shape() != want.shape())
    return ::testing::AssertionFailure() << "shape " << shape_str(got.shape()) << " vs " << shape_str(want.shape());
  NoGradGuard ng;
  const std::vector<double> x = got.detach().to_vector<double>(), y = want.detach().to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i) {
    const bool ok = (std::isnan(x[i]) && std::isnan(y[i])) || (std::isinf(y[i]) && x[i] == y[i]) ||
                    std::abs(x[i] - y[i]) <= atol + rtol * std::abs(y[i]);
    if (!ok)
      return ::testing::AssertionFailure() << "element " << i << ": " << x[i] << " vs torch " << y[i] << " (atol "
                                           << atol << ", rtol " << rtol << ")";
  }
  return ::testing::AssertionSuccess();
}

// Per-dtype tolerances against the float64 torch reference.
struct Tol {
  double atol, rtol;
};
inline Tol tol_for(DType dt) { return dt == DType::f64 ? Tol{1e-10, 1e-9} : Tol{2e-5, 2e-4}; }

}  // namespace hm::test
