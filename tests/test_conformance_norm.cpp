// Kernel-variant conformance for the norm / loss family's tables (DESIGN.md 6, tier 2): every registered variant
// against the scalar reference on random shapes with size 1, odd sizes and sizes not a multiple of any vector
// width, outputs poisoned with NaN first so that an unwritten element fails; layer norm with and without weight /
// bias and with the optional backward outputs left null; glu with extreme gates; cross-entropy with ignored rows
// and class weights.
//   conformance: layer_norm_forward_f32
//   conformance: layer_norm_forward_f64
//   conformance: layer_norm_backward_f32
//   conformance: layer_norm_backward_f64
//   conformance: glu_forward_f32
//   conformance: glu_forward_f64
//   conformance: glu_backward_f32
//   conformance: glu_backward_f64
//   conformance: cross_entropy_forward_f32
//   conformance: cross_entropy_forward_f64
//   conformance: cross_entropy_backward_f32
//   conformance: cross_entropy_backward_f64
#include <limits>

#include "ops/glu.h"
#include "ops/loss.h"
#include "ops/norm.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

const std::vector<std::pair<int64_t, int64_t>> kShapes = {{1, 1},  {3, 1},  {2, 3},  {4, 7},   {1, 8},  {3, 16},
                                                          {2, 17}, {5, 33}, {2, 64}, {3, 129}, {1, 768}};

template <class T>
std::vector<T> random_vec(int64_t n, uint64_t seed, double shift = 0) {
  Generator gen(seed);
  std::vector<T> v = randn({n}, DType::f64, gen).template to_vector<T>();
  for (T& x : v) x += T(shift);
  return v;
}

template <class T>
std::vector<T> poisoned(int64_t n) {
  return std::vector<T>(size_t(n), std::numeric_limits<T>::quiet_NaN());
}

template <class T>
::testing::AssertionResult close_vec(const std::vector<T>& got, const std::vector<T>& ref, double tol) {
  for (size_t i = 0; i < ref.size(); ++i)
    if (!(std::abs(double(got[i]) - double(ref[i])) <= tol * (1 + std::abs(double(ref[i])))))
      return ::testing::AssertionFailure() << "element " << i << ": " << got[i] << " vs scalar " << ref[i];
  return ::testing::AssertionSuccess();
}

template <class T>
double tolerance() {
  return std::is_same_v<T, float> ? 2e-5 : 1e-12;
}

template <class T>
void forward_conformance() {
  const auto scalar = layer_norm_forward_table<T>().get("scalar");
  check_all_variants(layer_norm_forward_table<T>(), [&](const std::string& name, cpu::LayerNormForwardFn<T> fn) {
    for (const auto& [rows, C] : kShapes)
      for (int affine = 0; affine < 3; ++affine) {  // 0: none, 1: weight only, 2: weight and bias
        SCOPED_TRACE(name + " rows=" + std::to_string(rows) + " C=" + std::to_string(C) +
                     " affine=" + std::to_string(affine));
        // A large common offset exercises the two-pass variance.
        const auto x = random_vec<T>(rows * C, uint64_t(rows * 1000 + C), 3.0);
        const auto w = random_vec<T>(C, 5), b = random_vec<T>(C, 6);
        const T* pw = affine >= 1 ? w.data() : nullptr;
        const T* pb = affine == 2 ? b.data() : nullptr;
        auto y = poisoned<T>(rows * C), m = poisoned<T>(rows), s = poisoned<T>(rows);
        auto yr = poisoned<T>(rows * C), mr = poisoned<T>(rows), sr = poisoned<T>(rows);
        fn(x.data(), pw, pb, T(1e-5), rows, C, y.data(), m.data(), s.data());
        scalar(x.data(), pw, pb, T(1e-5), rows, C, yr.data(), mr.data(), sr.data());
        EXPECT_TRUE(close_vec(y, yr, tolerance<T>()));
        EXPECT_TRUE(close_vec(m, mr, tolerance<T>()));
        EXPECT_TRUE(close_vec(s, sr, tolerance<T>()));
      }
  });
}

template <class T>
void backward_conformance() {
  const auto scalar = layer_norm_backward_table<T>().get("scalar");
  const auto fwd = layer_norm_forward_table<T>().get("scalar");
  check_all_variants(layer_norm_backward_table<T>(), [&](const std::string& name, cpu::LayerNormBackwardFn<T> fn) {
    for (const auto& [rows, C] : kShapes)
      for (int mode = 0; mode < 3; ++mode) {  // 0: all outputs, 1: no weight and dx only, 2: weight grads only
        SCOPED_TRACE(name + " rows=" + std::to_string(rows) + " C=" + std::to_string(C) +
                     " mode=" + std::to_string(mode));
        const auto x = random_vec<T>(rows * C, uint64_t(rows * 77 + C), -2.0);
        const auto dy = random_vec<T>(rows * C, uint64_t(rows * 91 + C));
        const auto w = random_vec<T>(C, 8);
        const T* pw = mode == 1 ? nullptr : w.data();
        std::vector<T> y(size_t(rows * C)), m(static_cast<size_t>(rows)), s(static_cast<size_t>(rows));
        fwd(x.data(), pw, nullptr, T(1e-5), rows, C, y.data(), m.data(), s.data());
        // dx is written (poisoned first); dweight / dbias accumulate onto the same random start values.
        auto dx = poisoned<T>(rows * C), dxr = poisoned<T>(rows * C);
        auto dw = random_vec<T>(C, 9), db = random_vec<T>(C, 10);
        auto dwr = dw, dbr = db;
        const bool want_dx = mode != 2, want_dwb = mode != 1;
        fn(dy.data(), x.data(), pw, m.data(), s.data(), rows, C, want_dx ? dx.data() : nullptr,
           want_dwb ? dw.data() : nullptr, want_dwb ? db.data() : nullptr);
        scalar(dy.data(), x.data(), pw, m.data(), s.data(), rows, C, want_dx ? dxr.data() : nullptr,
               want_dwb ? dwr.data() : nullptr, want_dwb ? dbr.data() : nullptr);
        if (want_dx) {
          EXPECT_TRUE(close_vec(dx, dxr, 10 * tolerance<T>()));
        }
        EXPECT_TRUE(close_vec(dw, dwr, 10 * tolerance<T>()));
        EXPECT_TRUE(close_vec(db, dbr, 10 * tolerance<T>()));
      }
  });
}

TEST(Conformance, layer_norm_ForwardVariantsMatchScalar) {
  forward_conformance<float>();
  forward_conformance<double>();
}

TEST(Conformance, layer_norm_BackwardVariantsMatchScalar) {
  backward_conformance<float>();
  backward_conformance<double>();
}

template <class T>
void glu_conformance() {
  const auto fwd_ref = glu_forward_table<T>().get("scalar");
  const auto bwd_ref = glu_backward_table<T>().get("scalar");
  for (int64_t n : {1, 3, 7, 8, 15, 16, 17, 33, 100, 1001}) {
    auto a = random_vec<T>(n, uint64_t(n)), b = random_vec<T>(n, uint64_t(n + 1000)), dy = random_vec<T>(n, 3);
    for (int64_t i = 0; i < n; i += 5) b[size_t(i)] *= T(i % 2 ? 300 : -300);  // saturated gates, both signs
    check_all_variants(glu_forward_table<T>(), [&](const std::string& name, cpu::GluForwardFn<T> fn) {
      SCOPED_TRACE(name + " n=" + std::to_string(n));
      auto y = poisoned<T>(n), yr = poisoned<T>(n);
      fn(a.data(), b.data(), n, y.data());
      fwd_ref(a.data(), b.data(), n, yr.data());
      EXPECT_TRUE(close_vec(y, yr, tolerance<T>()));
    });
    check_all_variants(glu_backward_table<T>(), [&](const std::string& name, cpu::GluBackwardFn<T> fn) {
      SCOPED_TRACE(name + " n=" + std::to_string(n));
      auto da = poisoned<T>(n), db = poisoned<T>(n), dar = poisoned<T>(n), dbr = poisoned<T>(n);
      fn(dy.data(), a.data(), b.data(), n, da.data(), db.data());
      bwd_ref(dy.data(), a.data(), b.data(), n, dar.data(), dbr.data());
      EXPECT_TRUE(close_vec(da, dar, tolerance<T>()));
      EXPECT_TRUE(close_vec(db, dbr, tolerance<T>()));
    });
  }
}

TEST(Conformance, glu_VariantsMatchScalar) {
  glu_conformance<float>();
  glu_conformance<double>();
}

template <class T>
void cross_entropy_conformance() {
  const auto fwd_ref = cross_entropy_forward_table<T>().get("scalar");
  const auto bwd_ref = cross_entropy_backward_table<T>().get("scalar");
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 1},  {3, 2},  {2, 7},   {4, 8},
                                                           {3, 17}, {2, 33}, {5, 100}, {2, 513}};
  for (const auto& [rows, C] : shapes)
    for (const bool weighted : {false, true}) {
      auto x = random_vec<T>(rows * C, uint64_t(rows * 31 + C));
      for (T& v : x) v *= T(5);
      x[0] = T(60);  // a dominant logit: the max shift matters
      Generator gen(static_cast<uint64_t>(C));
      std::vector<int64_t> target(static_cast<size_t>(rows));
      for (int64_t i = 0; i < rows; ++i) target[size_t(i)] = i % 3 == 1 ? -100 : int64_t(gen.next_below(uint64_t(C)));
      auto w = random_vec<T>(C, 12);
      for (T& v : w) v = std::abs(v) + T(0.1);
      const T* pw = weighted ? w.data() : nullptr;
      auto row_grad = random_vec<T>(rows, 13);
      auto lr = poisoned<T>(rows), lser = poisoned<T>(rows), rwr = poisoned<T>(rows), dxr = poisoned<T>(rows * C);
      fwd_ref(x.data(), target.data(), pw, -100, rows, C, lr.data(), lser.data(), rwr.data());
      bwd_ref(x.data(), target.data(), pw, -100, lser.data(), row_grad.data(), rows, C, dxr.data());
      const std::string where = " rows=" + std::to_string(rows) + " C=" + std::to_string(C) + (weighted ? " w" : "");
      check_all_variants(cross_entropy_forward_table<T>(),
                         [&](const std::string& name, cpu::CrossEntropyForwardFn<T> fn) {
                           SCOPED_TRACE(name + where);
                           auto l = poisoned<T>(rows), lse = poisoned<T>(rows), rw = poisoned<T>(rows);
                           fn(x.data(), target.data(), pw, -100, rows, C, l.data(), lse.data(), rw.data());
                           EXPECT_TRUE(close_vec(l, lr, tolerance<T>()));
                           EXPECT_TRUE(close_vec(lse, lser, tolerance<T>()));
                           EXPECT_TRUE(close_vec(rw, rwr, tolerance<T>()));
                         });
      check_all_variants(cross_entropy_backward_table<T>(),
                         [&](const std::string& name, cpu::CrossEntropyBackwardFn<T> fn) {
                           SCOPED_TRACE(name + where);
                           auto dx = poisoned<T>(rows * C);
                           fn(x.data(), target.data(), pw, -100, lser.data(), row_grad.data(), rows, C, dx.data());
                           EXPECT_TRUE(close_vec(dx, dxr, tolerance<T>()));
                         });
    }
}

TEST(Conformance, cross_entropy_VariantsMatchScalar) {
  cross_entropy_conformance<float>();
  cross_entropy_conformance<double>();
}

TEST(Conformance, layer_norm_OpIsIdenticalUnderEveryVariantSelection) {
  // The op with each variant forced through the override mechanism gives the same y and gradients.
  Generator gen(4);
  Tensor x = randn({6, 37}, DType::f32, gen), w = randn({37}, DType::f32, gen), b = randn({37}, DType::f32, gen);
  Tensor dy = randn({6, 37}, DType::f32, gen);
  std::vector<Tensor> ys, dxs, dws;
  const std::string before = layer_norm_forward_table<float>().selected() +
                             ",layer_norm_backward_f32=" + layer_norm_backward_table<float>().selected();
  for (const std::string& v : layer_norm_forward_table<float>().variants()) {
    set_kernel_overrides("layer_norm_forward_f32=" + v + ",layer_norm_backward_f32=" + v);
    Tensor xl = x.clone(), wl = w.clone();
    xl.requires_grad_(true);
    wl.requires_grad_(true);
    Tensor y = layer_norm(xl, wl, b);
    y.backward(dy);
    ys.push_back(y.detach()), dxs.push_back(xl.grad()), dws.push_back(wl.grad());
  }
  set_kernel_overrides("layer_norm_forward_f32=" + before);
  for (size_t i = 1; i < ys.size(); ++i) {
    EXPECT_TRUE(all_close(ys[i], ys[0], 1e-5, 1e-5));
    EXPECT_TRUE(all_close(dxs[i], dxs[0], 1e-4, 1e-4));
    EXPECT_TRUE(all_close(dws[i], dws[0], 1e-4, 1e-4));
  }
}

}  // namespace
}  // namespace hm::test
