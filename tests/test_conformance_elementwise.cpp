// Conformance of every kernel variant of the elementwise / reduction / softmax tables against the scalar
// reference (DESIGN.md 6, tier 2), on every Highway target this CPU supports (hwy::SetSupportedTargetsForTest),
// with NaN-poisoned outputs so that an unwritten element fails, on sizes that are 1, odd, and not multiples of
// any vector width. Covers the tables (marker text for tests/test_coverage.cpp):
//   conformance: binary_f32         conformance: binary_f64
//   conformance: binary_row_f32     conformance: binary_row_f64
//   conformance: binary_col_f32     conformance: binary_col_f64
//   conformance: binary_scalar_f32  conformance: binary_scalar_f64
//   conformance: unary_f32          conformance: unary_f64
//   conformance: unary_backward_f32 conformance: unary_backward_f64
//   conformance: reduce_rows_f32    conformance: reduce_rows_f64
//   conformance: reduce_cols_f32    conformance: reduce_cols_f64
//   conformance: softmax_f32        conformance: softmax_f64
//   conformance: softmax_backward_f32 conformance: softmax_backward_f64
#include <cmath>
#include <limits>

#include "cpu/elementwise_scalar.h"
#include "hwy/targets.h"
#include "ops/elementwise_tables.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

using cpu::BinaryOp;
using cpu::ReduceOp;
using cpu::SoftmaxOp;
using cpu::UnaryOp;

const std::vector<int64_t> kSizes = {1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33, 63, 65, 100, 257, 1001};
const std::vector<std::pair<int64_t, int64_t>> kShapes = {{1, 1},   {1, 17},  {3, 1},   {5, 7},  {7, 33},
                                                          {16, 16}, {13, 65}, {2, 257}, {33, 3}, {4, 1000}};
constexpr BinaryOp kBinaryOps[] = {BinaryOp::add, BinaryOp::sub,  BinaryOp::mul,
                                   BinaryOp::div, BinaryOp::rsub, BinaryOp::rdiv};
constexpr UnaryOp kUnaryOps[] = {UnaryOp::neg,     UnaryOp::exp,  UnaryOp::log,  UnaryOp::sqrt, UnaryOp::tanh,
                                 UnaryOp::sigmoid, UnaryOp::relu, UnaryOp::gelu, UnaryOp::silu, UnaryOp::softplus};
// pow exponents: small integers (binary powering), large integers and fractions (exp / log), zero.
constexpr double kPowExponents[] = {2, 3, -1, -2, 0, 7, 100, 0.5, -1.5, 2.5};

template <class T>
constexpr T kNaN = std::numeric_limits<T>::quiet_NaN();

// Inputs: normal * scale (+ shift), or |normal| * scale + 0.05 for positive-only domains.
template <class T>
std::vector<T> random_values(int64_t n, uint64_t seed, double scale = 1.0, bool positive = false) {
  Generator gen(seed);
  std::vector<T> v;
  for (double x : randn({n}, DType::f64, gen).to_vector<double>())
    v.push_back(T(positive ? std::abs(x) * scale + 0.05 : x * scale));
  return v;
}

// got vs ref: NaN where ref is NaN, identical infinities, |got - ref| <= atol + rtol |ref| elsewhere (a poisoned
// NaN left in `got` fails).
template <class T>
::testing::AssertionResult close(const std::vector<T>& got, const std::vector<T>& ref, double atol, double rtol) {
  for (size_t i = 0; i < ref.size(); ++i) {
    const T g = got[i], r = ref[i];
    const bool ok = std::isnan(r)   ? std::isnan(g)
                    : std::isinf(r) ? g == r
                                    : std::abs(double(g) - double(r)) <= atol + rtol * std::abs(double(r));
    if (!ok)
      return ::testing::AssertionFailure()
             << "element " << i << " of " << ref.size() << ": got " << g << ", reference " << r;
  }
  return ::testing::AssertionSuccess();
}

// Relative tolerance of 4 ulp (machine epsilons) of the element type: exp / log / tanh / erfc are 1-4 ulp in each
// variant.
template <class T>
constexpr double kUlps = 4 * double(std::numeric_limits<T>::epsilon());

// Run f once per Highway target supported by this CPU (and compiled), then restore the default choice.
template <class F>
void for_each_target(F&& f) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(std::string("highway target ") + hwy::TargetName(target));
    f();
  }
  hwy::SetSupportedTargetsForTest(0);
}

template <class T>
void binary_conformance() {
  auto& table = binary_table<T>();
  for_each_target([&] {
    check_all_variants(table, [&](const std::string&, cpu::BinaryFn<T> fn) {
      for (BinaryOp op : kBinaryOps)
        for (int64_t n : kSizes) {
          const auto a = random_values<T>(n, 1, 2.0, true), b = random_values<T>(n, 2, 1.0, true);
          std::vector<T> ref(static_cast<size_t>(n)), got(static_cast<size_t>(n), kNaN<T>);
          cpu::scalar::binary(op, a.data(), b.data(), ref.data(), n);
          fn(op, a.data(), b.data(), got.data(), n);
          ASSERT_TRUE(close(got, ref, 0, 0)) << cpu::op_name(op) << " n=" << n;  // IEEE ops: exact
        }
    });
  });
}

template <class T>
void binary_broadcast_conformance() {
  for_each_target([&] {
    check_all_variants(binary_row_table<T>(), [&](const std::string&, cpu::BinaryRowFn<T> fn) {
      for (BinaryOp op : kBinaryOps)
        for (auto [rows, cols] : kShapes) {
          const auto a = random_values<T>(rows * cols, 3, 2.0, true), b = random_values<T>(cols, 4, 1.0, true);
          std::vector<T> ref(static_cast<size_t>(rows * cols)), got(static_cast<size_t>(rows * cols), kNaN<T>);
          cpu::scalar::binary_row(op, a.data(), b.data(), ref.data(), rows, cols);
          fn(op, a.data(), b.data(), got.data(), rows, cols);
          ASSERT_TRUE(close(got, ref, 0, 0)) << cpu::op_name(op) << " " << rows << "x" << cols;
        }
    });
    check_all_variants(binary_col_table<T>(), [&](const std::string&, cpu::BinaryColFn<T> fn) {
      for (BinaryOp op : kBinaryOps)
        for (auto [rows, cols] : kShapes) {
          const auto a = random_values<T>(rows * cols, 5, 2.0, true), b = random_values<T>(rows, 6, 1.0, true);
          std::vector<T> ref(static_cast<size_t>(rows * cols)), got(static_cast<size_t>(rows * cols), kNaN<T>);
          cpu::scalar::binary_col(op, a.data(), b.data(), ref.data(), rows, cols);
          fn(op, a.data(), b.data(), got.data(), rows, cols);
          ASSERT_TRUE(close(got, ref, 0, 0)) << cpu::op_name(op) << " " << rows << "x" << cols;
        }
    });
    check_all_variants(binary_scalar_table<T>(), [&](const std::string&, cpu::BinaryScalarFn<T> fn) {
      for (BinaryOp op : kBinaryOps)
        for (int64_t n : kSizes) {
          const auto a = random_values<T>(n, 7, 2.0, true);
          std::vector<T> ref(static_cast<size_t>(n)), got(static_cast<size_t>(n), kNaN<T>);
          cpu::scalar::binary_scalar(op, a.data(), T(-0.75), ref.data(), n);
          fn(op, a.data(), T(-0.75), got.data(), n);
          ASSERT_TRUE(close(got, ref, 0, 0)) << cpu::op_name(op) << " n=" << n;
        }
    });
  });
}

// Inputs that exercise each op's whole range: positive for log / sqrt, wide for the exp overflow, the
// softplus threshold and gelu's tails, plus special values appended to every array of 17+ elements.
template <class T>
std::vector<T> unary_inputs(UnaryOp op, int64_t n, uint64_t seed, double exponent) {
  const bool positive =
      op == UnaryOp::log || op == UnaryOp::sqrt || (op == UnaryOp::pow && std::nearbyint(exponent) != exponent);
  const double scale = (op == UnaryOp::exp || op == UnaryOp::softplus || op == UnaryOp::gelu) ? 25.0 : 3.0;
  std::vector<T> x = random_values<T>(n, seed, scale, positive);
  if (n >= 17) {
    const T inf = std::numeric_limits<T>::infinity();
    const std::vector<T> specials = {T(0), T(-0.0), inf, -inf, kNaN<T>, T(20), T(20.5), T(-120), T(800)};
    std::copy(specials.begin(), specials.end(), x.begin() + 3);
  }
  return x;
}

template <class T>
double unary_rtol(UnaryOp op, double exponent) {
  // exp(p log x) amplifies log's error by |p log x| (<= ~10 here): allow 1e2 ulp for that pow path.
  if (op == UnaryOp::pow && !(std::nearbyint(exponent) == exponent && std::abs(exponent) <= 64)) return 100 * kUlps<T>;
  return op == UnaryOp::pow ? 8 * kUlps<T> : kUlps<T>;
}

template <class T>
void unary_conformance() {
  std::vector<std::pair<UnaryOp, double>> cases;
  for (UnaryOp op : kUnaryOps) cases.push_back({op, 0.0});
  for (double p : kPowExponents) cases.push_back({UnaryOp::pow, p});
  for_each_target([&] {
    check_all_variants(unary_table<T>(), [&](const std::string&, cpu::UnaryFn<T> fn) {
      for (auto [op, p] : cases)
        for (int64_t n : kSizes) {
          const auto x = unary_inputs<T>(op, n, 8 + uint64_t(n), p);
          std::vector<T> ref(static_cast<size_t>(n)), got(static_cast<size_t>(n), kNaN<T>);
          cpu::scalar::unary(op, x.data(), ref.data(), n, T(p));
          fn(op, x.data(), got.data(), n, T(p));
          ASSERT_TRUE(close(got, ref, 1e-30, unary_rtol<T>(op, p))) << cpu::op_name(op) << "(p=" << p << ") n=" << n;
        }
    });
    check_all_variants(unary_backward_table<T>(), [&](const std::string&, cpu::UnaryBackwardFn<T> fn) {
      for (auto [op, p] : cases)
        for (int64_t n : kSizes) {
          const auto x = random_values<T>(n, 9 + uint64_t(n), op == UnaryOp::softplus ? 25.0 : 3.0,
                                          op == UnaryOp::log || op == UnaryOp::sqrt || op == UnaryOp::pow);
          const auto gy = random_values<T>(n, 10);
          double gmax = 0;
          for (T g : gy) gmax = std::max(gmax, std::abs(double(g)));
          std::vector<T> y(static_cast<size_t>(n)), ref(static_cast<size_t>(n)), got(static_cast<size_t>(n), kNaN<T>);
          cpu::scalar::unary(op, x.data(), y.data(), n, T(p));
          // Only the value backward_reads(op) names is passed; the other pointer is null.
          const cpu::BackwardReads reads = cpu::backward_reads(op);
          const T* px = reads == cpu::BackwardReads::input ? x.data() : nullptr;
          const T* py = reads == cpu::BackwardReads::output ? y.data() : nullptr;
          cpu::scalar::unary_backward(op, px, py, gy.data(), ref.data(), n, T(p));
          fn(op, px, py, gy.data(), got.data(), n, T(p));
          // Derivatives such as 1 - y^2 or Phi(x) + x phi(x) cancel: their error is a few ulp of |gy| times
          // the O(1) terms, so the tolerance is absolute in |gy| plus relative.
          ASSERT_TRUE(close(got, ref, 4 * kUlps<T> * gmax, 2 * unary_rtol<T>(op, p)))
              << cpu::op_name(op) << "'(p=" << p << ") n=" << n;
        }
    });
  });
}

// Rows with NaN, +-inf and all -inf, appended to random data, for the max and softmax kernels.
template <class T>
std::vector<T> with_special_rows(std::vector<T> x, int64_t rows, int64_t cols) {
  const T inf = std::numeric_limits<T>::infinity();
  if (rows >= 4) {
    x[size_t(cols / 2)] = kNaN<T>;                                         // row 0: one NaN
    x[size_t(cols + cols - 1)] = inf;                                      // row 1: +inf at the end
    std::fill(x.begin() + 2 * cols, x.begin() + 3 * cols, -inf);           // row 2: all -inf
    for (int64_t c = 0; c < cols; c += 2) x[size_t(3 * cols + c)] = -inf;  // row 3: every other -inf
  }
  return x;
}

template <class T>
void reduce_conformance() {
  std::vector<std::pair<int64_t, int64_t>> shapes = kShapes;
  shapes.push_back({2, 70001});  // longer than one vector accumulation block of every target
  for_each_target([&] {
    check_all_variants(reduce_rows_table<T>(), [&](const std::string&, cpu::ReduceRowsFn<T> fn) {
      for (ReduceOp op : {ReduceOp::sum, ReduceOp::max})
        for (auto [rows, cols] : shapes) {
          auto x = random_values<T>(rows * cols, 11, 2.0);
          if (op == ReduceOp::max) x = with_special_rows(x, rows, cols);
          std::vector<T> ref(static_cast<size_t>(rows)), got(static_cast<size_t>(rows), kNaN<T>);
          cpu::scalar::reduce_rows(op, x.data(), ref.data(), rows, cols);
          fn(op, x.data(), got.data(), rows, cols);
          // Sums differ by the accumulation order: bound by a few ulp of sum |x| (~2 cols for normal data).
          const double atol = op == ReduceOp::sum ? 4 * kUlps<T> * 2.0 * double(cols) : 0;
          ASSERT_TRUE(close(got, ref, atol, 0)) << cpu::op_name(op) << " " << rows << "x" << cols;
        }
    });
    check_all_variants(reduce_cols_table<T>(), [&](const std::string&, cpu::ReduceColsFn<T> fn) {
      for (ReduceOp op : {ReduceOp::sum, ReduceOp::max})
        for (auto [rows, cols] : kShapes) {
          const int64_t ld = cols + 3;  // a strided view of the first `cols` columns
          auto x = random_values<T>(rows * ld, 12, 2.0);
          if (op == ReduceOp::max) x = with_special_rows(x, rows, ld);
          std::vector<T> ref(static_cast<size_t>(cols)), got(static_cast<size_t>(cols), kNaN<T>);
          cpu::scalar::reduce_cols(op, x.data(), ref.data(), rows, cols, ld);
          fn(op, x.data(), got.data(), rows, cols, ld);
          const double atol = op == ReduceOp::sum ? 4 * kUlps<T> * 2.0 * double(rows) : 0;
          ASSERT_TRUE(close(got, ref, atol, 0)) << cpu::op_name(op) << " " << rows << "x" << cols;
        }
    });
  });
}

template <class T>
void softmax_conformance() {
  for_each_target([&] {
    check_all_variants(softmax_table<T>(), [&](const std::string&, cpu::SoftmaxFn<T> fn) {
      for (SoftmaxOp op : {SoftmaxOp::softmax, SoftmaxOp::log_softmax, SoftmaxOp::logsumexp})
        for (auto [rows, cols] : kShapes) {
          const auto x = with_special_rows(random_values<T>(rows * cols, 13, 4.0), rows, cols);
          const int64_t n_out = op == SoftmaxOp::logsumexp ? rows : rows * cols;
          std::vector<T> ref(static_cast<size_t>(n_out)), got(static_cast<size_t>(n_out), kNaN<T>);
          cpu::scalar::softmax(op, x.data(), ref.data(), rows, cols);
          fn(op, x.data(), got.data(), rows, cols);
          ASSERT_TRUE(close(got, ref, 2 * kUlps<T>, 2 * kUlps<T>)) << cpu::op_name(op) << " " << rows << "x" << cols;
        }
    });
    check_all_variants(softmax_backward_table<T>(), [&](const std::string&, cpu::SoftmaxBackwardFn<T> fn) {
      for (SoftmaxOp op : {SoftmaxOp::softmax, SoftmaxOp::log_softmax})
        for (auto [rows, cols] : kShapes) {
          const auto x = random_values<T>(rows * cols, 14, 3.0), gy = random_values<T>(rows * cols, 15);
          std::vector<T> y(static_cast<size_t>(rows * cols)), ref(y.size()), got(y.size(), kNaN<T>);
          cpu::scalar::softmax(op, x.data(), y.data(), rows, cols);
          cpu::scalar::softmax_backward(op, y.data(), gy.data(), ref.data(), rows, cols);
          fn(op, y.data(), gy.data(), got.data(), rows, cols);
          // |gx| involves sums over the row: absolute tolerance scaled by the row length.
          ASSERT_TRUE(close(got, ref, 4 * kUlps<T> * double(cols), 4 * kUlps<T>))
              << cpu::op_name(op) << " " << rows << "x" << cols;
        }
    });
  });
}

TEST(ElementwiseConformance, BinarySameShape) {
  binary_conformance<float>();
  binary_conformance<double>();
}

TEST(ElementwiseConformance, BinaryRowColScalar) {
  binary_broadcast_conformance<float>();
  binary_broadcast_conformance<double>();
}

TEST(ElementwiseConformance, UnaryAndBackward) {
  unary_conformance<float>();
  unary_conformance<double>();
}

TEST(ElementwiseConformance, ReduceRowsCols) {
  reduce_conformance<float>();
  reduce_conformance<double>();
}

TEST(ElementwiseConformance, SoftmaxAndBackward) {
  softmax_conformance<float>();
  softmax_conformance<double>();
}

// gelu's accuracy rests on the vector normal cdf (cpu/hwy_math-inl.h: erfc with an exact exponent split).
// Against a long-double reference, every variant stays within a few ulp over the whole range where gelu is a
// normal number, including the far negative tail where 1 + erf(x / sqrt 2) would cancel and where rounding
// x / sqrt 2 alone would cost x^2 ulp: 1e-6 relative in f32 (x in [-13, 10]), 4e-15 in f64 ([-37, 10]).
TEST(ElementwiseConformance, GeluErfcAccuracyAcrossTails) {
  const auto gelu_ref = [](long double x) { return 0.5L * x * std::erfc(-x / std::sqrt(2.0L)); };
  for_each_target([&] {
    check_all_variants(unary_table<double>(), [&](const std::string&, cpu::UnaryFn<double> fn) {
      std::vector<double> x, got, ref;
      for (double v = -37; v < 10; v += 0.00123) x.push_back(v);
      got.assign(x.size(), kNaN<double>);
      fn(UnaryOp::gelu, x.data(), got.data(), int64_t(x.size()), 0.0);
      for (double v : x) ref.push_back(double(gelu_ref(v)));
      EXPECT_TRUE(close(got, ref, 1e-300, 4e-15));
    });
    check_all_variants(unary_table<float>(), [&](const std::string&, cpu::UnaryFn<float> fn) {
      std::vector<float> x, got, ref;
      for (double v = -13; v < 10; v += 0.00123) x.push_back(float(v));
      got.assign(x.size(), kNaN<float>);
      fn(UnaryOp::gelu, x.data(), got.data(), int64_t(x.size()), 0.0f);
      for (float v : x) ref.push_back(float(gelu_ref(v)));
      EXPECT_TRUE(close(got, ref, 1e-37, 1e-6));
    });
  });
}

}  // namespace
}  // namespace hm::test
