// Highway GLU (the "highway" variant of the glu_* kernel tables): the scalar reference's formulas (cpu/glu.cpp)
// with a vectorised exp. sigmoid(v) = 1 / (1 + e) for v >= 0 and e / (1 + e) otherwise, e = exp(-|v|), keeps the
// exp argument <= 0, inside hn::Exp's valid range, for every input.
// foreach_target.h re-includes this file once per target; highway.h and the contrib headers must follow it.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/glu_hwy.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"
// clang-format on

#include <cmath>

#include "cpu/glu.h"

HWY_BEFORE_NAMESPACE();
namespace hm::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D, class V>
HWY_INLINE V Sigmoid(D d, V v) {
  const V one = hn::Set(d, hn::TFromD<D>(1));
  const V e = hn::Exp(d, hn::Neg(hn::Abs(v)));
  const V r = hn::Div(one, hn::Add(one, e));
  return hn::IfThenElse(hn::Ge(v, hn::Zero(d)), r, hn::Mul(e, r));
}

template <class T>
T SigmoidScalar(T v) {
  const T e = std::exp(-std::abs(v));
  return v >= 0 ? T(1) / (T(1) + e) : e / (T(1) + e);
}

template <class T>
void GluForward(const T* a, const T* b, int64_t n, T* y) {
  const hn::ScalableTag<T> d;
  const int64_t N = int64_t(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, a + i), Sigmoid(d, hn::LoadU(d, b + i))), d, y + i);
  for (; i < n; ++i) y[i] = a[i] * SigmoidScalar(b[i]);
}

template <class T>
void GluBackward(const T* dy, const T* a, const T* b, int64_t n, T* da, T* db) {
  const hn::ScalableTag<T> d;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto one = hn::Set(d, T(1));
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto s = Sigmoid(d, hn::LoadU(d, b + i));
    const auto g = hn::LoadU(d, dy + i);
    const auto gs = hn::Mul(g, s);
    hn::StoreU(gs, d, da + i);
    hn::StoreU(hn::Mul(hn::Mul(gs, hn::LoadU(d, a + i)), hn::Sub(one, s)), d, db + i);
  }
  for (; i < n; ++i) {
    const T s = SigmoidScalar(b[i]);
    da[i] = dy[i] * s;
    db[i] = dy[i] * a[i] * s * (T(1) - s);
  }
}

void GluForwardF32(const float* a, const float* b, int64_t n, float* y) { GluForward(a, b, n, y); }
void GluForwardF64(const double* a, const double* b, int64_t n, double* y) { GluForward(a, b, n, y); }
void GluBackwardF32(const float* dy, const float* a, const float* b, int64_t n, float* da, float* db) {
  GluBackward(dy, a, b, n, da, db);
}
void GluBackwardF64(const double* dy, const double* a, const double* b, int64_t n, double* da, double* db) {
  GluBackward(dy, a, b, n, da, db);
}

}  // namespace HWY_NAMESPACE
}  // namespace hm::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hm::cpu {
HWY_EXPORT(GluForwardF32);
HWY_EXPORT(GluForwardF64);
HWY_EXPORT(GluBackwardF32);
HWY_EXPORT(GluBackwardF64);

namespace simd {
void glu_forward_f32(const float* a, const float* b, int64_t n, float* y) {
  HWY_DYNAMIC_DISPATCH(GluForwardF32)(a, b, n, y);
}
void glu_forward_f64(const double* a, const double* b, int64_t n, double* y) {
  HWY_DYNAMIC_DISPATCH(GluForwardF64)(a, b, n, y);
}
void glu_backward_f32(const float* dy, const float* a, const float* b, int64_t n, float* da, float* db) {
  HWY_DYNAMIC_DISPATCH(GluBackwardF32)(dy, a, b, n, da, db);
}
void glu_backward_f64(const double* dy, const double* a, const double* b, int64_t n, double* da, double* db) {
  HWY_DYNAMIC_DISPATCH(GluBackwardF64)(dy, a, b, n, da, db);
}
}  // namespace simd
}  // namespace hm::cpu
#endif  // HWY_ONCE
