// Reductions: sum / mean / max / var over every layout path of ops/reduce.cpp (trailing, leading, middle,
// interleaved, all, size-1, 0-d, empty, longer than one reduction block) against a double-precision reference,
// NaN propagation and tie routing of max, float64 gradient checks, errors, thread-count independence.
#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/parallel.h"
#include "ops/ops.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

enum class Kind { sum, mean, max, var };

// Reference: visit every element, accumulate into its output slot in long double (two passes for var).
Tensor reduce_reference(const Tensor& x, std::vector<int64_t> dims, bool keepdim, Kind kind, int64_t correction = 1) {
  const Shape& s = x.shape();
  const int64_t rank = x.dim();
  std::vector<bool> red(size_t(rank), dims.empty());
  for (int64_t d : dims)
    if (rank > 0) red[size_t(d < 0 ? d + rank : d)] = true;
  Shape keep = s, out_shape;
  for (int64_t d = 0; d < rank; ++d) {
    if (red[size_t(d)]) keep[size_t(d)] = 1;
    if (!red[size_t(d)] || keepdim) out_shape.push_back(keep[size_t(d)]);
  }
  const int64_t n_out = shape_numel(keep);
  const std::vector<double> v = x.to_vector<double>();
  const auto out_index = [&](int64_t i) {  // flat index of element i's output slot
    int64_t o = 0, stride = 1;
    for (int64_t d = rank - 1; d >= 0; --d) {
      const int64_t coord = i % s[size_t(d)];
      i /= s[size_t(d)];
      if (!red[size_t(d)]) o += coord * stride;
      stride *= keep[size_t(d)];
    }
    return o;
  };
  std::vector<long double> acc(size_t(n_out), kind == Kind::max ? -INFINITY : 0.0L), count(size_t(n_out), 0);
  for (int64_t i = 0; i < int64_t(v.size()); ++i) {
    const int64_t o = out_index(i);
    count[size_t(o)] += 1;
    if (kind == Kind::max)
      acc[size_t(o)] = (std::isnan(v[size_t(i)]) || v[size_t(i)] > acc[size_t(o)]) ? v[size_t(i)] : acc[size_t(o)];
    else
      acc[size_t(o)] += v[size_t(i)];
  }
  if (kind == Kind::mean || kind == Kind::var)
    for (int64_t o = 0; o < n_out; ++o) acc[size_t(o)] /= count[size_t(o)];
  if (kind == Kind::var) {
    std::vector<long double> sq(size_t(n_out), 0);
    for (int64_t i = 0; i < int64_t(v.size()); ++i) {
      const int64_t o = out_index(i);
      sq[size_t(o)] += (v[size_t(i)] - acc[size_t(o)]) * (v[size_t(i)] - acc[size_t(o)]);
    }
    for (int64_t o = 0; o < n_out; ++o) acc[size_t(o)] = sq[size_t(o)] / (count[size_t(o)] - correction);
  }
  return from_vector(std::vector<double>(acc.begin(), acc.end()), out_shape);
}

Tensor random(const Shape& s, uint64_t seed, DType dt) {
  Generator gen(seed);
  return randn(s, dt, gen);
}

struct Case {
  Shape shape;
  std::vector<int64_t> dims;
};

// One case per layout path: rows, columns, [K1, R, K2] with K2 >= 16 and < 16, interleaved dims, everything,
// size-1 dims, 0-d, and rows / columns longer than the fixed 65536-element reduction block.
const std::vector<Case> kCases = {{{5, 7}, {1}},
                                  {{5, 7}, {0}},
                                  {{5, 7}, {}},
                                  {{5, 7}, {-1}},
                                  {{5, 7}, {0, 1}},
                                  {{2, 3, 20}, {1}},
                                  {{2, 3, 4}, {1}},
                                  {{2, 3, 4}, {0, 2}},
                                  {{2, 3, 4}, {0, 1}},
                                  {{2, 3, 4}, {1, 2}},
                                  {{1, 5, 1}, {1}},
                                  {{3, 1, 4}, {1}},
                                  {{3, 1, 4}, {0, 1}},
                                  {{33}, {0}},
                                  {{1}, {0}},
                                  {{}, {}},
                                  {{}, {0}},
                                  {{3, 70001}, {1}},
                                  {{70001, 3}, {0}},
                                  {{2, 3, 4, 5}, {1, 3}},
                                  {{4, 33, 17}, {0, 2}}};

TEST(Reduce, ForwardMatchesReferenceOnEveryLayout) {
  for (DType dt : {DType::f32, DType::f64})
    for (const Case& c : kCases)
      for (bool keepdim : {false, true}) {
        SCOPED_TRACE(cat(dtype_name(dt), " ", c.shape, " dims ", Shape(c.dims), keepdim ? " keepdim" : ""));
        const Tensor x = random(c.shape, 7 + uint64_t(c.shape.size()), dt);
        const double rt = dt == DType::f32 ? 1e-5 : 1e-12;
        // Sums of n normals: the error scales with sqrt(n) ulp, hence an absolute part.
        const double at = rt * std::sqrt(double(std::max<int64_t>(x.numel(), 1)));
        const Tensor s = sum(x, c.dims, keepdim);
        EXPECT_EQ(s.dtype(), dt);
        EXPECT_TRUE(all_close(s, reduce_reference(x, c.dims, keepdim, Kind::sum), at, rt));
        EXPECT_TRUE(all_close(mean(x, c.dims, keepdim), reduce_reference(x, c.dims, keepdim, Kind::mean), at, rt));
        EXPECT_TRUE(all_close(max(x, c.dims, keepdim), reduce_reference(x, c.dims, keepdim, Kind::max), 0, 0));
        for (int64_t corr : {0, 1}) {
          const Tensor ref = reduce_reference(x, c.dims, keepdim, Kind::var, corr);
          if (std::isfinite(ref.to_vector<double>()[0])) {
            EXPECT_TRUE(all_close(var(x, c.dims, corr, keepdim), ref, at, 10 * rt)) << "correction " << corr;
          }
        }
      }
}

TEST(Reduce, MaxPropagatesNanAndRoutesTiesToTheFirst) {
  const Tensor x = from_doubles({1, NAN, 3, 3, -INFINITY, 2}, {2, 3}, DType::f64);
  const std::vector<double> m = max(x, {1}).to_vector<double>();
  EXPECT_TRUE(std::isnan(m[0]));
  EXPECT_EQ(m[1], 3);
  Tensor t = from_doubles({1, 3, 3, 2, 5, 5, 5, 0}, {2, 4}, DType::f64);
  t.requires_grad_(true);
  max(t, {1}).backward(from_doubles({10, 20}, {2}, DType::f64));
  EXPECT_EQ(t.grad().to_vector<double>(), (std::vector<double>{0, 10, 0, 0, 20, 0, 0, 0}));
  // Over several dims the first maximal element in row-major order of the reduced dims gets the gradient.
  Tensor u = from_doubles({4, 1, 4, 4, 0, 2}, {3, 2}, DType::f64);  // max 4 at (0,0), (1,0), (1,1)
  u.requires_grad_(true);
  max(u).backward();
  EXPECT_EQ(u.grad().to_vector<double>(), (std::vector<double>{1, 0, 0, 0, 0, 0}));
  Tensor w = from_doubles({1, 4, 4, 2, 4, 3}, {3, 2}, DType::f64);  // over dim 0: columns (1,4,4) and (4,2,3)
  w.requires_grad_(true);
  max(w, {0}).backward(from_doubles({1, 1}, {2}, DType::f64));
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{0, 1, 1, 0, 0, 0}));
}

TEST(Reduce, EdgeCases) {
  EXPECT_EQ(sum(zeros({0, 3}), {0}).to_vector<float>(), (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(sum(zeros({2, 0}), {0}).shape(), (Shape{0}));
  EXPECT_TRUE(std::isnan(mean(zeros({0})).item()));
  EXPECT_TRUE(std::isnan(var(ones({1}), {0}).item()));            // one sample, unbiased: 0 / 0
  EXPECT_EQ(var(from_doubles({1, 3}, {2}), {0}, 0).item(), 1.0);  // population variance
  EXPECT_EQ(var(from_doubles({1, 3}, {2}), {0}, 1).item(), 2.0);  // unbiased
  EXPECT_EQ(sum(full({}, 2.5)).item(), 2.5);
  EXPECT_EQ(max(from_doubles({-INFINITY, -INFINITY}, {2})).item(), -INFINITY);
  EXPECT_EQ(sum(ones({4, 5}), {}, true).shape(), (Shape{1, 1}));
}

TEST(Reduce, ErrorsNameOpDimsAndShapes) {
  EXPECT_TRUE(throws_with([] { sum(zeros({2, 3}), {2}); }, "sum: dim 2 out of range for a tensor of rank 2"));
  EXPECT_TRUE(throws_with([] { mean(zeros({2, 3}), {-3}); }, "mean: dim -3 out of range"));
  EXPECT_TRUE(throws_with(
      [] {
        var(zeros({2, 3}), {1, -1});
      },
      "var: dim -1 repeated in the dim list for shape (2, 3)"));
  EXPECT_TRUE(throws_with([] { max(zeros({2, 0}), {1}); }, "max: cannot reduce over dim 1 of size 0 in shape (2, 0)"));
  EXPECT_TRUE(throws_with([] { sum(zeros({2}, DType::i64)); }, "sum: expected a float32 or float64 tensor, got int64"));
}

TEST(Reduce, GradcheckSumMeanMaxVar) {
  const Tensor x = randn_param({3, 4, 5}, 21);
  for (const std::vector<int64_t>& dims : std::vector<std::vector<int64_t>>{{2}, {0}, {1}, {0, 2}, {}})
    for (bool keepdim : {false, true}) {
      SCOPED_TRACE(cat("dims ", Shape(dims), keepdim ? " keepdim" : ""));
      expect_gradcheck("sum", [&](const std::vector<Tensor>& in) { return sum(in[0], dims, keepdim); }, {x});
      expect_gradcheck("mean", [&](const std::vector<Tensor>& in) { return mean(in[0], dims, keepdim); }, {x});
      // Continuous random inputs have no ties, so max is differentiable at them.
      expect_gradcheck("max", [&](const std::vector<Tensor>& in) { return max(in[0], dims, keepdim); }, {x});
      for (int64_t corr : {0, 1})
        expect_gradcheck("var", [&](const std::vector<Tensor>& in) { return var(in[0], dims, corr, keepdim); }, {x});
    }
}

TEST(Reduce, SumToShapeReducesBroadcastDims) {
  const Tensor g = random({4, 3, 5}, 22, DType::f64);
  EXPECT_TRUE(all_close(sum_to_shape(g, {5}), sum(g, {0, 1}), 0, 1e-14));  // bias gradient
  EXPECT_TRUE(all_close(sum_to_shape(g, {3, 1}), sum(g, {0, 2}, true).reshape({3, 1}), 0, 1e-14));
  EXPECT_TRUE(all_close(sum_to_shape(g, {1, 3, 5}), sum(g, {0}, true), 0, 1e-14));
  EXPECT_EQ(sum_to_shape(g, {4, 3, 5}).unsafe_impl(), g.unsafe_impl());
  EXPECT_TRUE(throws_with([&] { sum_to_shape(g, {2, 5}); }, "sum_to_shape: cannot reduce (4, 3, 5) to (2, 5)"));
}

// The summation order depends on the shape only: 1 and 2 threads give bitwise identical sums, also for rows and
// columns longer than the fixed reduction block.
TEST(Reduce, ResultsIndependentOfThreadCount) {
  const int before = cpu::num_threads();
  const Tensor a = random({3, 300001}, 23, DType::f32), b = random({300001, 5}, 24, DType::f32);
  const Tensor c = random({7, 40000, 20}, 25, DType::f32);
  std::vector<std::vector<float>> results[2];
  for (int threads : {1, 2}) {
    cpu::set_num_threads(threads);
    results[threads - 1] = {sum(a, {1}).to_vector<float>(), sum(b, {0}).to_vector<float>(),
                            sum(c, {1}).to_vector<float>(), max(b, {0}).to_vector<float>(),
                            sum(a).to_vector<float>(),      var(c, {0, 2}).to_vector<float>()};
  }
  cpu::set_num_threads(before);
  for (size_t k = 0; k < results[0].size(); ++k) EXPECT_EQ(results[0][k], results[1][k]) << "result " << k;
}

}  // namespace
}  // namespace hm::test

namespace hm::test {
namespace {

// Regression: a leading-dims reduction whose rows are wider than one reduction block (65536 elements) recursed
// forever (block_rows == 1 re-entered with the same shape) and exhausted memory.
TEST(Reduce, LeadingDimsSumOfRowsWiderThanABlock) {
  const int64_t rows = 3, cols = 70001;
  Tensor x = empty({rows, cols}, DType::f64);
  double* p = x.data<double>();
  for (int64_t i = 0; i < rows * cols; ++i) p[i] = double(i % 7) - 3.0;
  const std::vector<double> got = sum(x, {0}).to_vector<double>();
  ASSERT_EQ(int64_t(got.size()), cols);
  for (int64_t c = 0; c < cols; ++c) {
    double ref = 0;
    for (int64_t r = 0; r < rows; ++r) ref += double((r * cols + c) % 7) - 3.0;
    ASSERT_EQ(got[size_t(c)], ref) << c;
  }
}

}  // namespace
}  // namespace hm::test
