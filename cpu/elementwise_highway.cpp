// Highway kernels: binary (same shape, row / column broadcast, scalar operand), unary activations and their
// fused backward. Math as in cpu/elementwise_scalar.cpp (the reference); vector exp / log / erfc / pow in
// cpu/hwy_math-inl.h.
#include "cpu/elementwise_highway.h"

#include <algorithm>
#include <type_traits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/elementwise_highway.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// Order matters: foreach_target re-includes this file once per target before highway.h.
#include "cpu/hwy_math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace hm::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// out[i] = f(x[i]) over (n): whole vectors (two per iteration), then the remainder through a padded buffer so
// the last elements go through the same vector code. out may alias x (every load precedes its store).
template <class D, class F>
HWY_INLINE void Map1(D d, const hn::TFromD<D>* x, hn::TFromD<D>* out, int64_t n, const F& f) {
  using T = hn::TFromD<D>;
  const int64_t N = int64_t(hn::Lanes(d));
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto v0 = f(hn::LoadU(d, x + i));
    const auto v1 = f(hn::LoadU(d, x + i + N));
    hn::StoreU(v0, d, out + i);
    hn::StoreU(v1, d, out + i + N);
  }
  for (; i + N <= n; i += N) hn::StoreU(f(hn::LoadU(d, x + i)), d, out + i);
  if (i < n) {
    HWY_ALIGN T buf[hn::MaxLanes(d)] = {};
    std::copy(x + i, x + n, buf);
    hn::Store(f(hn::Load(d, buf)), d, buf);
    std::copy(buf, buf + (n - i), out + i);
  }
}

// out[i] = f(a[i], b[i]) over (n), same scheme.
template <class D, class F>
HWY_INLINE void Map2(D d, const hn::TFromD<D>* a, const hn::TFromD<D>* b, hn::TFromD<D>* out, int64_t n, const F& f) {
  using T = hn::TFromD<D>;
  const int64_t N = int64_t(hn::Lanes(d));
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto v0 = f(hn::LoadU(d, a + i), hn::LoadU(d, b + i));
    const auto v1 = f(hn::LoadU(d, a + i + N), hn::LoadU(d, b + i + N));
    hn::StoreU(v0, d, out + i);
    hn::StoreU(v1, d, out + i + N);
  }
  for (; i + N <= n; i += N) hn::StoreU(f(hn::LoadU(d, a + i), hn::LoadU(d, b + i)), d, out + i);
  if (i < n) {
    HWY_ALIGN T buf_a[hn::MaxLanes(d)] = {};
    HWY_ALIGN T buf_b[hn::MaxLanes(d)] = {};
    std::copy(a + i, a + n, buf_a);
    std::copy(b + i, b + n, buf_b);
    hn::Store(f(hn::Load(d, buf_a), hn::Load(d, buf_b)), d, buf_a);
    std::copy(buf_a, buf_a + (n - i), out + i);
  }
}

template <BinaryOp kOp, class V>
HWY_INLINE V Apply(V a, V b) {
  if constexpr (kOp == BinaryOp::add) return hn::Add(a, b);
  if constexpr (kOp == BinaryOp::sub) return hn::Sub(a, b);
  if constexpr (kOp == BinaryOp::mul) return hn::Mul(a, b);
  if constexpr (kOp == BinaryOp::div) return hn::Div(a, b);
  if constexpr (kOp == BinaryOp::rsub) return hn::Sub(b, a);
  if constexpr (kOp == BinaryOp::rdiv) return hn::Div(b, a);
}

// Call f(std::integral_constant<BinaryOp, op>) so that the loops below are compiled once per op.
template <class F>
HWY_INLINE void WithOp(BinaryOp op, const F& f) {
  switch (op) {
    case BinaryOp::add:
      return f(std::integral_constant<BinaryOp, BinaryOp::add>());
    case BinaryOp::sub:
      return f(std::integral_constant<BinaryOp, BinaryOp::sub>());
    case BinaryOp::mul:
      return f(std::integral_constant<BinaryOp, BinaryOp::mul>());
    case BinaryOp::div:
      return f(std::integral_constant<BinaryOp, BinaryOp::div>());
    case BinaryOp::rsub:
      return f(std::integral_constant<BinaryOp, BinaryOp::rsub>());
    case BinaryOp::rdiv:
      return f(std::integral_constant<BinaryOp, BinaryOp::rdiv>());
  }
}

template <class T>
void BinaryImpl(BinaryOp op, const T* a, const T* b, T* out, int64_t n) {
  const hn::ScalableTag<T> d;
  WithOp(op, [&](auto k) {
    Map2(d, a, b, out, n, [](auto va, auto vb) HWY_ATTR { return Apply<decltype(k)::value>(va, vb); });
  });
}

template <class T>
void BinaryRowImpl(BinaryOp op, const T* a, const T* b, T* out, int64_t rows, int64_t cols) {
  const hn::ScalableTag<T> d;
  WithOp(op, [&](auto k) {
    for (int64_t r = 0; r < rows; ++r)
      Map2(d, a + r * cols, b, out + r * cols, cols,
           [](auto va, auto vb) HWY_ATTR { return Apply<decltype(k)::value>(va, vb); });
  });
}

template <class T>
void BinaryColImpl(BinaryOp op, const T* a, const T* b, T* out, int64_t rows, int64_t cols) {
  const hn::ScalableTag<T> d;
  WithOp(op, [&](auto k) {
    for (int64_t r = 0; r < rows; ++r) {
      const auto vb = hn::Set(d, b[r]);
      Map1(d, a + r * cols, out + r * cols, cols, [vb](auto va) HWY_ATTR { return Apply<decltype(k)::value>(va, vb); });
    }
  });
}

template <class T>
void BinaryScalarImpl(BinaryOp op, const T* a, T s, T* out, int64_t n) {
  const hn::ScalableTag<T> d;
  const auto vs = hn::Set(d, s);
  WithOp(op, [&](auto k) { Map1(d, a, out, n, [vs](auto va) HWY_ATTR { return Apply<decltype(k)::value>(va, vs); }); });
}

template <class T>
void UnaryImpl(UnaryOp op, const T* x, T* y, int64_t n, T param) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const V zero = hn::Zero(d), threshold = hn::Set(d, T(20));
  switch (op) {
    case UnaryOp::neg:
      return Map1(d, x, y, n, [](V v) HWY_ATTR { return hn::Neg(v); });
    case UnaryOp::exp:
      return Map1(d, x, y, n, [d](V v) HWY_ATTR { return ExpFull(d, v); });
    case UnaryOp::log:
      return Map1(d, x, y, n, [d](V v) HWY_ATTR { return LogFull(d, v); });
    case UnaryOp::sqrt:
      return Map1(d, x, y, n, [](V v) HWY_ATTR { return hn::Sqrt(v); });
    case UnaryOp::tanh:
      return Map1(d, x, y, n, [d](V v) HWY_ATTR { return hn::IfThenElse(hn::IsNaN(v), v, hn::Tanh(d, v)); });
    case UnaryOp::sigmoid:
      return Map1(d, x, y, n, [d](V v) HWY_ATTR { return Sigmoid(d, v); });
    case UnaryOp::relu:
      return Map1(d, x, y, n, [zero](V v) HWY_ATTR { return hn::IfThenZeroElse(hn::Lt(v, zero), v); });
    case UnaryOp::gelu:
      return Map1(d, x, y, n, [d](V v) HWY_ATTR { return hn::Mul(v, NormalCdf(d, v)); });
    case UnaryOp::silu:
      return Map1(d, x, y, n, [d](V v) HWY_ATTR { return hn::Mul(v, Sigmoid(d, v)); });
    case UnaryOp::softplus:
      return Map1(d, x, y, n, [d, threshold](V v) HWY_ATTR {
        // exp(v) <= e^20 on the branch that is kept, where hn::Log1p is specified.
        const V soft = hn::Log1p(d, ExpFull(d, hn::Min(v, threshold)));
        return hn::IfThenElse(hn::Gt(v, threshold), v, hn::IfThenElse(hn::IsNaN(v), v, soft));
      });
    case UnaryOp::pow: {
      const PowPlan<T> plan(param);
      return Map1(d, x, y, n, [d, &plan](V v) HWY_ATTR { return Pow(d, v, plan); });
    }
  }
}

template <class T>
void UnaryBackwardImpl(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n, T param) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const V zero = hn::Zero(d), one = hn::Set(d, T(1)), two = hn::Set(d, T(2));
  const V threshold = hn::Set(d, T(20));
  switch (op) {
    case UnaryOp::neg:
      return Map1(d, gy, gx, n, [](V g) HWY_ATTR { return hn::Neg(g); });
    case UnaryOp::exp:
      return Map2(d, y, gy, gx, n, [](V v, V g) HWY_ATTR { return hn::Mul(g, v); });
    case UnaryOp::log:
      return Map2(d, x, gy, gx, n, [one](V v, V g) HWY_ATTR { return hn::Mul(g, hn::Div(one, v)); });
    case UnaryOp::sqrt:
      return Map2(d, y, gy, gx, n, [one, two](V v, V g) HWY_ATTR { return hn::Mul(g, hn::Div(one, hn::Mul(two, v))); });
    case UnaryOp::tanh:  // 1 - y^2
      return Map2(d, y, gy, gx, n, [one](V v, V g) HWY_ATTR { return hn::Mul(g, hn::NegMulAdd(v, v, one)); });
    case UnaryOp::sigmoid:  // y (1 - y)
      return Map2(d, y, gy, gx, n, [one](V v, V g) HWY_ATTR { return hn::Mul(g, hn::Mul(v, hn::Sub(one, v))); });
    case UnaryOp::relu:  // threshold_backward: y > 0 ? g : 0
      return Map2(d, y, gy, gx, n, [zero](V v, V g) HWY_ATTR { return hn::IfThenElseZero(hn::Gt(v, zero), g); });
    case UnaryOp::gelu:  // Phi(x) + x phi(x)
      return Map2(d, x, gy, gx, n, [d](V v, V g) HWY_ATTR {
        V pdf;
        const V cdf = NormalCdfPdf(d, v, pdf);
        return hn::Mul(g, hn::MulAdd(v, pdf, cdf));
      });
    case UnaryOp::silu:  // s (1 + x (1 - s))
      return Map2(d, x, gy, gx, n, [d, one](V v, V g) HWY_ATTR {
        const V s = Sigmoid(d, v);
        return hn::Mul(g, hn::Mul(s, hn::MulAdd(v, hn::Sub(one, s), one)));
      });
    case UnaryOp::softplus:  // x > 20 ? 1 : sigmoid(x)
      return Map2(d, x, gy, gx, n, [d, one, threshold](V v, V g) HWY_ATTR {
        return hn::Mul(g, hn::IfThenElse(hn::Gt(v, threshold), one, Sigmoid(d, v)));
      });
    case UnaryOp::pow: {  // p == 0 ? 0 : p x^(p - 1)
      const PowPlan<T> plan(param - T(1));
      const V p = hn::Set(d, param);
      if (param == T(0)) return Map1(d, gy, gx, n, [zero](V) HWY_ATTR { return zero; });
      return Map2(d, x, gy, gx, n,
                  [d, p, &plan](V v, V g) HWY_ATTR { return hn::Mul(g, hn::Mul(p, Pow(d, v, plan))); });
    }
  }
}

void BinaryF32(BinaryOp op, const float* a, const float* b, float* out, int64_t n) { BinaryImpl(op, a, b, out, n); }
void BinaryF64(BinaryOp op, const double* a, const double* b, double* out, int64_t n) { BinaryImpl(op, a, b, out, n); }
void BinaryRowF32(BinaryOp op, const float* a, const float* b, float* out, int64_t rows, int64_t cols) {
  BinaryRowImpl(op, a, b, out, rows, cols);
}
void BinaryRowF64(BinaryOp op, const double* a, const double* b, double* out, int64_t rows, int64_t cols) {
  BinaryRowImpl(op, a, b, out, rows, cols);
}
void BinaryColF32(BinaryOp op, const float* a, const float* b, float* out, int64_t rows, int64_t cols) {
  BinaryColImpl(op, a, b, out, rows, cols);
}
void BinaryColF64(BinaryOp op, const double* a, const double* b, double* out, int64_t rows, int64_t cols) {
  BinaryColImpl(op, a, b, out, rows, cols);
}
void BinaryScalarF32(BinaryOp op, const float* a, float s, float* out, int64_t n) {
  BinaryScalarImpl(op, a, s, out, n);
}
void BinaryScalarF64(BinaryOp op, const double* a, double s, double* out, int64_t n) {
  BinaryScalarImpl(op, a, s, out, n);
}
void UnaryF32(UnaryOp op, const float* x, float* y, int64_t n, float p) { UnaryImpl(op, x, y, n, p); }
void UnaryF64(UnaryOp op, const double* x, double* y, int64_t n, double p) { UnaryImpl(op, x, y, n, p); }
void UnaryBackwardF32(UnaryOp op, const float* x, const float* y, const float* gy, float* gx, int64_t n, float p) {
  UnaryBackwardImpl(op, x, y, gy, gx, n, p);
}
void UnaryBackwardF64(UnaryOp op, const double* x, const double* y, const double* gy, double* gx, int64_t n, double p) {
  UnaryBackwardImpl(op, x, y, gy, gx, n, p);
}

}  // namespace hm::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hm::cpu::highway {

HWY_EXPORT(BinaryF32);
HWY_EXPORT(BinaryF64);
HWY_EXPORT(BinaryRowF32);
HWY_EXPORT(BinaryRowF64);
HWY_EXPORT(BinaryColF32);
HWY_EXPORT(BinaryColF64);
HWY_EXPORT(BinaryScalarF32);
HWY_EXPORT(BinaryScalarF64);
HWY_EXPORT(UnaryF32);
HWY_EXPORT(UnaryF64);
HWY_EXPORT(UnaryBackwardF32);
HWY_EXPORT(UnaryBackwardF64);

void binary_f32(BinaryOp op, const float* a, const float* b, float* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(BinaryF32)(op, a, b, out, n);
}
void binary_f64(BinaryOp op, const double* a, const double* b, double* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(BinaryF64)(op, a, b, out, n);
}
void binary_row_f32(BinaryOp op, const float* a, const float* b, float* out, int64_t rows, int64_t cols) {
  HWY_DYNAMIC_DISPATCH(BinaryRowF32)(op, a, b, out, rows, cols);
}
void binary_row_f64(BinaryOp op, const double* a, const double* b, double* out, int64_t rows, int64_t cols) {
  HWY_DYNAMIC_DISPATCH(BinaryRowF64)(op, a, b, out, rows, cols);
}
void binary_col_f32(BinaryOp op, const float* a, const float* b, float* out, int64_t rows, int64_t cols) {
  HWY_DYNAMIC_DISPATCH(BinaryColF32)(op, a, b, out, rows, cols);
}
void binary_col_f64(BinaryOp op, const double* a, const double* b, double* out, int64_t rows, int64_t cols) {
  HWY_DYNAMIC_DISPATCH(BinaryColF64)(op, a, b, out, rows, cols);
}
void binary_scalar_f32(BinaryOp op, const float* a, float s, float* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(BinaryScalarF32)(op, a, s, out, n);
}
void binary_scalar_f64(BinaryOp op, const double* a, double s, double* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(BinaryScalarF64)(op, a, s, out, n);
}
void unary_f32(UnaryOp op, const float* x, float* y, int64_t n, float param) {
  HWY_DYNAMIC_DISPATCH(UnaryF32)(op, x, y, n, param);
}
void unary_f64(UnaryOp op, const double* x, double* y, int64_t n, double param) {
  HWY_DYNAMIC_DISPATCH(UnaryF64)(op, x, y, n, param);
}
void unary_backward_f32(UnaryOp op, const float* x, const float* y, const float* gy, float* gx, int64_t n,
                        float param) {
  HWY_DYNAMIC_DISPATCH(UnaryBackwardF32)(op, x, y, gy, gx, n, param);
}
void unary_backward_f64(UnaryOp op, const double* x, const double* y, const double* gy, double* gx, int64_t n,
                        double param) {
  HWY_DYNAMIC_DISPATCH(UnaryBackwardF64)(op, x, y, gy, gx, n, param);
}

}  // namespace hm::cpu::highway
#endif  // HWY_ONCE
