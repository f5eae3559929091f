// softmax / log_softmax / logsumexp over every dim of random shapes (incl. size-1, odd and 0-d) against a
// long-double reference, numerical stability with large and infinite inputs, float64 gradient checks, errors.
#include <cmath>
#include <limits>

#include "ops/ops.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

enum class Kind { softmax, log_softmax, logsumexp };

// Reference over `dim` of a row-major tensor: for every (outer, inner) slice, lse = log(sum exp(x)).
Tensor softmax_reference(const Tensor& x, int64_t dim, Kind kind, bool keepdim = false) {
  Shape s = x.shape().empty() ? Shape{1} : x.shape();
  const int64_t rank = int64_t(s.size());
  if (dim < 0) dim += rank;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= s[size_t(d)];
  for (int64_t d = dim + 1; d < rank; ++d) inner *= s[size_t(d)];
  const int64_t n = s[size_t(dim)];
  const std::vector<double> v = x.to_vector<double>();
  std::vector<double> out(kind == Kind::logsumexp ? size_t(outer * inner) : v.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const auto at = [&](int64_t k) { return v[size_t((o * n + k) * inner + i)]; };
      long double m = -INFINITY;
      for (int64_t k = 0; k < n; ++k) m = std::max<long double>(m, at(k));
      if (std::isinf(m)) m = 0;
      long double total = 0;
      for (int64_t k = 0; k < n; ++k) total += std::exp((long double)at(k) - m);
      const long double lse = m + std::log(total);
      if (kind == Kind::logsumexp) out[size_t(o * inner + i)] = double(lse);
      for (int64_t k = 0; k < n && kind != Kind::logsumexp; ++k)
        out[size_t((o * n + k) * inner + i)] =
            double(kind == Kind::softmax ? std::exp((long double)at(k) - lse) : (long double)at(k) - lse);
    }
  if (kind != Kind::logsumexp) return from_vector(out, x.shape());
  Shape os = x.shape();
  if (!os.empty()) {
    if (keepdim)
      os[size_t(dim)] = 1;
    else
      os.erase(os.begin() + dim);
  }
  return from_vector(out, os);
}

TEST(Softmax, ForwardMatchesReferenceOnEveryDim) {
  const std::vector<Shape> shapes = {{5, 7}, {2, 3, 4}, {1}, {3, 1}, {1, 33}, {4, 1, 65}, {}};
  for (DType dt : {DType::f32, DType::f64})
    for (size_t k = 0; k < shapes.size(); ++k)
      for (int64_t dim = -std::max<int64_t>(int64_t(shapes[k].size()), 1); dim < int64_t(shapes[k].size()); ++dim) {
        SCOPED_TRACE(cat(dtype_name(dt), " ", shapes[k], " dim ", dim));
        Generator gen(30 + k);
        const Tensor x = randn(shapes[k], dt, gen);
        const double rt = dt == DType::f32 ? 2e-6 : 1e-14, at = dt == DType::f32 ? 1e-6 : 1e-14;
        EXPECT_TRUE(all_close(softmax(x, dim), softmax_reference(x, dim, Kind::softmax), at, rt));
        EXPECT_TRUE(all_close(log_softmax(x, dim), softmax_reference(x, dim, Kind::log_softmax), at, rt));
        for (bool keepdim : {false, true})
          EXPECT_TRUE(
              all_close(logsumexp(x, dim, keepdim), softmax_reference(x, dim, Kind::logsumexp, keepdim), at, rt));
        EXPECT_EQ(softmax(x, dim).dtype(), dt);
        EXPECT_TRUE(softmax(x, dim).is_contiguous());
      }
}

TEST(Softmax, StableForLargeAndInfiniteInputs) {
  const Tensor big = from_doubles({1000, 1001, 1002, -1000}, {4}, DType::f32);
  EXPECT_TRUE(all_close(softmax(big, 0), softmax_reference(big, 0, Kind::softmax), 1e-7, 1e-6));
  EXPECT_NEAR(logsumexp(big, 0).item(), 1002.4076059644444, 1e-3);
  const double inf = std::numeric_limits<double>::infinity();
  // A masked (-inf) entry gets probability 0; an all -inf row has logsumexp -inf and softmax nan (PyTorch).
  const Tensor masked = from_doubles({0.5, -inf, 1.5, -inf, -inf, -inf}, {2, 3}, DType::f64);
  const std::vector<double> p = softmax(masked, 1).to_vector<double>();
  EXPECT_EQ(p[1], 0.0);
  EXPECT_NEAR(p[0] + p[2], 1.0, 1e-15);
  EXPECT_TRUE(std::isnan(p[3]));
  const std::vector<double> lse = logsumexp(masked, 1).to_vector<double>();
  EXPECT_NEAR(lse[0], std::log(std::exp(0.5) + std::exp(1.5)), 1e-15);
  EXPECT_EQ(lse[1], -inf);
  EXPECT_EQ(log_softmax(masked, 1).to_vector<double>()[1], -inf);
}

TEST(Softmax, GradcheckEveryOpAndDim) {
  const Tensor x = randn_param({3, 4, 5}, 31, DType::f64, 2.0);
  for (int64_t dim : {2, 1, 0, -1}) {
    SCOPED_TRACE(cat("dim ", dim));
    expect_gradcheck("softmax", [dim](const std::vector<Tensor>& in) { return softmax(in[0], dim); }, {x});
    expect_gradcheck("log_softmax", [dim](const std::vector<Tensor>& in) { return log_softmax(in[0], dim); }, {x});
    for (bool keepdim : {false, true})
      expect_gradcheck("logsumexp",
                       [dim, keepdim](const std::vector<Tensor>& in) { return logsumexp(in[0], dim, keepdim); }, {x});
  }
  const Tensor one = randn_param({4, 1}, 32);
  expect_gradcheck("softmax", [](const std::vector<Tensor>& in) { return softmax(in[0], 1); }, {one});
}

TEST(Softmax, ErrorsNameOpAndDim) {
  EXPECT_TRUE(throws_with([] { softmax(zeros({2, 3}), 2); }, "softmax: dim 2 out of range for a tensor of rank 2"));
  EXPECT_TRUE(throws_with([] { logsumexp(zeros({2, 3}), -3); }, "logsumexp: dim -3 out of range"));
  EXPECT_TRUE(throws_with([] { log_softmax(zeros({2}, DType::i32), 0); },
                          "log_softmax: expected a float32 or float64 tensor, got int32"));
}

}  // namespace
}  // namespace hm::test
