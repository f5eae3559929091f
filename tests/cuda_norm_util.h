// Helpers shared by the CUDA norm / loss tests (tests/test_cuda_norm.cpp, tests/test_cuda_loss.cpp): host vectors
// to GPU tensors, NaN-poisoned GPU output buffers, a closeness check relative to the largest reference value, and
// the loop over a CUDA table's variants.
#pragma once
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/registry.h"
#include "tests/test_util.h"

namespace hm::test::cuda_util {

inline Device gpu() { return Device::cuda(); }

// Host vector -> 1-D tensor on the GPU.
template <class T>
Tensor to_gpu(const std::vector<T>& v) {
  return from_vector<T>(v, {int64_t(v.size())}).to(gpu());
}

// GPU buffer of n elements filled with NaN, so that an element a kernel forgets to write fails the comparison.
template <class T>
Tensor poisoned(int64_t n) {
  return full({n}, std::numeric_limits<double>::quiet_NaN(), dtype_of<T>::value, gpu());
}

template <class T>
T* dptr(const Tensor& t) {
  return t.defined() ? t.device_data<T>() : nullptr;
}

// n normal values (times scale, plus shift) from a fixed seed.
template <class T>
std::vector<T> random_vec(int64_t n, uint64_t seed, double shift = 0, double scale = 1) {
  Generator gen(seed);
  const std::vector<double> v = randn({n}, DType::f64, gen).to_vector<double>();
  std::vector<T> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = T(v[i] * scale + shift);
  return out;
}

// f32 kernels reduce in a different order than the CPU reference: 1e-5 relative to max|ref| (DESIGN.md 6); f64 is
// near-exact. Long reductions (thousands of terms, a few hundred CTC time steps) use looser, documented factors.
template <class T>
double tolerance(double factor = 1) {
  return (std::is_same_v<T, float> ? 1e-5 : 1e-12) * factor;
}

// |got - ref| <= tol * (1 + max|ref|) elementwise, with NaN matching NaN and inf matching the same inf (the CTC
// conventions produce both); reports the first failing element.
template <class T>
::testing::AssertionResult close_to(const std::vector<T>& got, const std::vector<T>& ref, double tol) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " vs reference " << ref.size();
  double scale = 0;
  for (T r : ref)
    if (std::isfinite(double(r))) scale = std::max(scale, std::abs(double(r)));
  for (size_t i = 0; i < ref.size(); ++i) {
    const double a = double(got[i]), b = double(ref[i]);
    const bool ok = (std::isnan(a) && std::isnan(b)) || (std::isinf(b) && a == b) ||
                    (std::isfinite(b) && std::abs(a - b) <= tol * (1 + scale));
    if (!ok)
      return ::testing::AssertionFailure() << "element " << i << ": " << a << " vs reference " << b << " (tol " << tol
                                           << " * (1 + " << scale << "))";
  }
  return ::testing::AssertionSuccess();
}

template <class T>
::testing::AssertionResult close_to(const Tensor& got, const std::vector<T>& ref, double tol) {
  return close_to(got.to_vector<T>(), ref, tol);
}

// Run f(variant, fn) for every variant of a CUDA kernel table. (check_all_variants demands a "scalar" entry, which
// a CUDA table does not have: its reference is the CPU table's scalar variant, called by f.)
template <class Fn, class F>
void for_each_cuda_variant(const KernelTable<Fn>& table, F&& f) {
  const auto names = table.variants();
  ASSERT_FALSE(names.empty()) << table.name() << ": no CUDA variants registered";
  for (const std::string& v : names) {
    ASSERT_EQ(v.rfind("cuda_", 0), 0u) << table.name() << ": CUDA variants are named cuda_*, got " << v;
    SCOPED_TRACE("kernel " + table.name() + "=" + v);
    f(v, table.get(v));
  }
}

}  // namespace hm::test::cuda_util
