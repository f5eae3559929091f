// Conformance of every convolution kernel variant against the scalar reference (DESIGN.md 6, tier 2), on edge
// geometries (length 1, kernel longer than the input, partial last window, lengths that are not a multiple of any
// vector width, stride/dilation/asymmetric padding/groups) and on random ones. Output buffers are poisoned with
// NaN first so an element a variant forgets to write fails the comparison.
#include <array>
#include <cmath>
#include <limits>
#include <type_traits>

#include "ops/conv.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

template <class T>
std::vector<T> random_vec(int64_t n, Generator& gen) {
  Tensor t = randn({n}, DType::f64, gen);
  const std::vector<double> v = t.to_vector<double>();
  return std::vector<T>(v.begin(), v.end());
}

template <class T>
std::vector<T> poisoned(int64_t n) {
  return std::vector<T>(size_t(n), std::numeric_limits<T>::quiet_NaN());
}

// |a - b| <= tol * (1 + |b|) elementwise (NaN fails).
template <class T>
::testing::AssertionResult close_vec(const std::vector<T>& a, const std::vector<T>& b, double tol, const char* what) {
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::abs(double(a[i]) - double(b[i])) <= tol * (1 + std::abs(double(b[i])))))
      return ::testing::AssertionFailure() << what << "[" << i << "] = " << a[i] << " vs scalar " << b[i];
  return ::testing::AssertionSuccess();
}

template <class T>
double tolerance() {
  return std::is_same_v<T, float> ? 2e-5 : 1e-12;
}

// Runs forward, backward_input and backward_weight (with and without bias) of `k` and of the scalar reference on
// one geometry and compares them.
template <class T>
void compare_conv1d(const cpu::Conv1dGeom& g, const cpu::Conv1dKernels<T>& k, const cpu::Conv1dKernels<T>& ref,
                    uint64_t seed) {
  SCOPED_TRACE(testing::Message() << "B " << g.B << " Cin " << g.Cin << " L " << g.L << " Cout " << g.Cout << " K "
                                  << g.K << " Lout " << g.Lout << " stride " << g.stride << " pad_left " << g.pad_left
                                  << " dilation " << g.dilation << " groups " << g.groups);
  Generator gen(seed);
  const int64_t nx = g.B * g.Cin * g.L, nw = g.Cout * g.cin_g() * g.K, ny = g.B * g.Cout * g.Lout;
  const auto x = random_vec<T>(nx, gen), w = random_vec<T>(nw, gen), bias = random_vec<T>(g.Cout, gen);
  const auto dy = random_vec<T>(ny, gen);
  for (const bool with_bias : {false, true}) {
    auto y_ref = poisoned<T>(ny), y = poisoned<T>(ny);
    ref.forward(g, x.data(), w.data(), with_bias ? bias.data() : nullptr, y_ref.data());
    k.forward(g, x.data(), w.data(), with_bias ? bias.data() : nullptr, y.data());
    EXPECT_TRUE(close_vec(y, y_ref, tolerance<T>(), "y"));
  }
  auto dx_ref = poisoned<T>(nx), dx = poisoned<T>(nx);
  ref.backward_input(g, dy.data(), w.data(), dx_ref.data());
  k.backward_input(g, dy.data(), w.data(), dx.data());
  EXPECT_TRUE(close_vec(dx, dx_ref, tolerance<T>(), "dx"));
  auto dw_ref = poisoned<T>(nw), dw = poisoned<T>(nw), db_ref = poisoned<T>(g.Cout), db = poisoned<T>(g.Cout);
  ref.backward_weight(g, dy.data(), x.data(), dw_ref.data(), db_ref.data());
  k.backward_weight(g, dy.data(), x.data(), dw.data(), db.data());
  EXPECT_TRUE(close_vec(dw, dw_ref, tolerance<T>(), "dw"));
  EXPECT_TRUE(close_vec(db, db_ref, tolerance<T>(), "db"));
  auto dw2 = poisoned<T>(nw);  // db == nullptr must still produce dw
  k.backward_weight(g, dy.data(), x.data(), dw2.data(), nullptr);
  EXPECT_TRUE(close_vec(dw2, dw_ref, tolerance<T>(), "dw (no bias)"));
}

// (B, Cin, L, Cout, K, stride, pad_left, pad_right, dilation, groups) -> geometry; false when Lout < 1.
bool make_geom(cpu::Conv1dGeom& g, int64_t B, int64_t Cin, int64_t L, int64_t Cout, int64_t K, int64_t s, int64_t pl,
               int64_t pr, int64_t d, int64_t groups) {
  g = {};
  g.B = B, g.Cin = Cin, g.L = L, g.Cout = Cout, g.K = K, g.stride = s, g.pad_left = pl, g.dilation = d,
  g.groups = groups;
  g.Lout = conv1d_output_length(L, K, {s, pl, pr, d, groups});
  return L + pl + pr >= d * (K - 1) + 1;
}

std::vector<cpu::Conv1dGeom> conv1d_geometries(bool depthwise) {
  std::vector<cpu::Conv1dGeom> out;
  cpu::Conv1dGeom g;
  // C, L, K, stride, pad_left, pad_right, dilation: edge cases first.
  const std::vector<std::array<int64_t, 7>> edges = {
      {1, 1, 1, 1, 0, 0, 1},   {3, 7, 3, 1, 1, 1, 1},     {2, 3, 10, 1, 4, 3, 1}, {4, 57, 10, 5, 0, 0, 1},
      {5, 33, 4, 1, 3, 0, 1},  {3, 65, 31, 1, 15, 15, 1}, {2, 17, 3, 2, 2, 1, 2}, {3, 40, 5, 3, 0, 4, 3},
      {2, 129, 7, 1, 0, 0, 4}, {1, 9, 2, 2, 0, 0, 1},     {6, 1, 4, 1, 3, 0, 1},  {2, 100, 1, 1, 0, 3, 1},
      {3, 23, 6, 4, 5, 2, 2},  {2, 16, 8, 1, 4, 4, 1}};
  for (const auto& e : edges) {
    const int64_t C = e[0];
    if (depthwise) {
      if (make_geom(g, 2, C, e[1], C, e[2], e[3], e[4], e[5], e[6], C)) out.push_back(g);
    } else {
      if (make_geom(g, 2, C, e[1], C + 1, e[2], e[3], e[4], e[5], e[6], 1)) out.push_back(g);
      if (C % 2 == 0 && make_geom(g, 1, C, e[1], 4, e[2], e[3], e[4], e[5], e[6], 2)) out.push_back(g);
    }
  }
  Generator gen(77);
  auto pick = [&](int64_t lo, int64_t hi) { return lo + int64_t(gen.next_below(uint64_t(hi - lo + 1))); };
  for (int i = 0; i < 40; ++i) {
    const int64_t groups = depthwise ? pick(1, 9) : pick(1, 3);
    const int64_t Cin = depthwise ? groups : groups * pick(1, 3), Cout = depthwise ? groups : groups * pick(1, 3);
    if (make_geom(g, pick(1, 3), Cin, pick(1, 70), Cout, pick(1, 9), pick(1, 4), pick(0, 5), pick(0, 5), pick(1, 3),
                  groups))
      out.push_back(g);
  }
  return out;
}

void run_conv1d_table(const KernelTable<cpu::Conv1dVariant>& table, bool depthwise) {
  const cpu::Conv1dVariant ref = table.get("scalar");
  const auto geoms = conv1d_geometries(depthwise);
  ASSERT_GT(geoms.size(), 30u);
  check_all_variants(table, [&](const std::string&, const cpu::Conv1dVariant& v) {
    for (size_t i = 0; i < geoms.size(); ++i) {
      compare_conv1d(geoms[i], v.f32, ref.f32, 100 + i);
      compare_conv1d(geoms[i], v.f64, ref.f64, 200 + i);
    }
  });
}

TEST(Conv1dConformance, DenseVariantsMatchScalar) {
  // conformance: conv1d_dense
  run_conv1d_table(conv1d_dense_table(), false);
}

TEST(Conv1dConformance, DepthwiseVariantsMatchScalar) {
  // conformance: conv1d_depthwise
  run_conv1d_table(conv1d_depthwise_table(), true);
}

template <class T>
void compare_conv2d(const cpu::Conv2dGeom& g, const cpu::Conv2dKernels<T>& k, const cpu::Conv2dKernels<T>& ref,
                    uint64_t seed) {
  SCOPED_TRACE(testing::Message() << "B " << g.B << " Cin " << g.Cin << " H " << g.H << " W " << g.W << " Cout "
                                  << g.Cout << " K " << g.KH << "x" << g.KW << " stride " << g.stride_h << ","
                                  << g.stride_w << " pad " << g.pad_h << "," << g.pad_w << " dilation " << g.dilation_h
                                  << "," << g.dilation_w);
  Generator gen(seed);
  const int64_t nx = g.B * g.Cin * g.H * g.W, nw = g.Cout * g.Cin * g.KH * g.KW, ny = g.B * g.Cout * g.Hout * g.Wout;
  const auto x = random_vec<T>(nx, gen), w = random_vec<T>(nw, gen), bias = random_vec<T>(g.Cout, gen);
  const auto dy = random_vec<T>(ny, gen);
  for (const bool with_bias : {false, true}) {
    auto y_ref = poisoned<T>(ny), y = poisoned<T>(ny);
    ref.forward(g, x.data(), w.data(), with_bias ? bias.data() : nullptr, y_ref.data());
    k.forward(g, x.data(), w.data(), with_bias ? bias.data() : nullptr, y.data());
    EXPECT_TRUE(close_vec(y, y_ref, tolerance<T>(), "y"));
  }
  auto dx_ref = poisoned<T>(nx), dx = poisoned<T>(nx);
  ref.backward_input(g, dy.data(), w.data(), dx_ref.data());
  k.backward_input(g, dy.data(), w.data(), dx.data());
  EXPECT_TRUE(close_vec(dx, dx_ref, tolerance<T>(), "dx"));
  auto dw_ref = poisoned<T>(nw), dw = poisoned<T>(nw), db_ref = poisoned<T>(g.Cout), db = poisoned<T>(g.Cout);
  ref.backward_weight(g, dy.data(), x.data(), dw_ref.data(), db_ref.data());
  k.backward_weight(g, dy.data(), x.data(), dw.data(), db.data());
  EXPECT_TRUE(close_vec(dw, dw_ref, tolerance<T>(), "dw"));
  EXPECT_TRUE(close_vec(db, db_ref, tolerance<T>(), "db"));
}

TEST(Conv2dConformance, VariantsMatchScalar) {
  // conformance: conv2d
  std::vector<cpu::Conv2dGeom> geoms;
  Generator gen(78);
  auto pick = [&](int64_t lo, int64_t hi) { return lo + int64_t(gen.next_below(uint64_t(hi - lo + 1))); };
  // (H, W, KH, KW, sh, sw, ph, pw, dh, dw): edge cases, then random ones.
  std::vector<std::array<int64_t, 10>> shapes = {{1, 1, 1, 1, 1, 1, 0, 0, 1, 1}, {13, 11, 3, 3, 2, 2, 0, 0, 1, 1},
                                                 {6, 5, 3, 3, 2, 2, 0, 0, 1, 1}, {7, 8, 3, 2, 2, 1, 1, 2, 1, 2},
                                                 {2, 3, 4, 4, 1, 1, 2, 1, 1, 1}, {9, 17, 5, 3, 3, 2, 1, 0, 2, 1}};
  for (int i = 0; i < 20; ++i)
    shapes.push_back({pick(1, 12), pick(1, 12), pick(1, 4), pick(1, 4), pick(1, 3), pick(1, 3), pick(0, 2), pick(0, 2),
                      pick(1, 2), pick(1, 2)});
  for (const auto& s : shapes) {
    cpu::Conv2dGeom g;
    g.B = pick(1, 2), g.Cin = pick(1, 3), g.Cout = pick(1, 4), g.H = s[0], g.W = s[1], g.KH = s[2], g.KW = s[3];
    g.stride_h = s[4], g.stride_w = s[5], g.pad_h = s[6], g.pad_w = s[7], g.dilation_h = s[8], g.dilation_w = s[9];
    const int64_t eh = g.dilation_h * (g.KH - 1) + 1, ew = g.dilation_w * (g.KW - 1) + 1;
    if (g.H + 2 * g.pad_h < eh || g.W + 2 * g.pad_w < ew) continue;
    g.Hout = (g.H + 2 * g.pad_h - eh) / g.stride_h + 1, g.Wout = (g.W + 2 * g.pad_w - ew) / g.stride_w + 1;
    geoms.push_back(g);
  }
  ASSERT_GT(geoms.size(), 12u);
  const cpu::Conv2dVariant ref = conv2d_table().get("scalar");
  check_all_variants(conv2d_table(), [&](const std::string&, const cpu::Conv2dVariant& v) {
    for (size_t i = 0; i < geoms.size(); ++i) {
      compare_conv2d(geoms[i], v.f32, ref.f32, 300 + i);
      compare_conv2d(geoms[i], v.f64, ref.f64, 400 + i);
    }
  });
}

}  // namespace
}  // namespace hm::test
