// Highway layer norm (the "highway" variant of the layer_norm_* kernel tables): the scalar reference's formulas
// (cpu/norm_layer.cpp) with the channel loops vectorised, two accumulators per reduction for ILP, and a scalar
// tail for C not a multiple of the vector width. Compiled once per SIMD target (foreach_target.h) and picked at
// run time (HWY_DYNAMIC_DISPATCH).
// foreach_target.h re-includes this file once per target; highway.h and the contrib headers must follow it.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/norm_layer_hwy.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
// clang-format on

#include <cmath>

#include "cpu/norm.h"

HWY_BEFORE_NAMESPACE();
namespace hm::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// sum_i p[i] for i < n.
template <class D, class T = hn::TFromD<D>>
HWY_INLINE T RowSum(D d, const T* p, int64_t n) {
  const int64_t N = int64_t(hn::Lanes(d));
  auto a0 = hn::Zero(d), a1 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    a0 = hn::Add(a0, hn::LoadU(d, p + i));
    a1 = hn::Add(a1, hn::LoadU(d, p + i + N));
  }
  for (; i + N <= n; i += N) a0 = hn::Add(a0, hn::LoadU(d, p + i));
  T s = hn::GetLane(hn::SumOfLanes(d, hn::Add(a0, a1)));
  for (; i < n; ++i) s += p[i];
  return s;
}

// sum_i (p[i] - m)^2 for i < n.
template <class D, class T = hn::TFromD<D>>
HWY_INLINE T CentredSquares(D d, const T* p, T m, int64_t n) {
  const int64_t N = int64_t(hn::Lanes(d));
  const auto vm = hn::Set(d, m);
  auto a0 = hn::Zero(d), a1 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto c0 = hn::Sub(hn::LoadU(d, p + i), vm), c1 = hn::Sub(hn::LoadU(d, p + i + N), vm);
    a0 = hn::MulAdd(c0, c0, a0);
    a1 = hn::MulAdd(c1, c1, a1);
  }
  for (; i + N <= n; i += N) {
    const auto c0 = hn::Sub(hn::LoadU(d, p + i), vm);
    a0 = hn::MulAdd(c0, c0, a0);
  }
  T s = hn::GetLane(hn::SumOfLanes(d, hn::Add(a0, a1)));
  for (; i < n; ++i) s += (p[i] - m) * (p[i] - m);
  return s;
}

template <class T>
void LayerNormForward(const T* x, const T* weight, const T* bias, T eps, int64_t rows, int64_t C, T* y, T* mean,
                      T* rstd) {
  const hn::ScalableTag<T> d;
  const int64_t N = int64_t(hn::Lanes(d));
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * C;  // (C)
    T* yr = y + r * C;        // (C)
    const T m = RowSum(d, xr, C) / T(C);
    const T s = T(1) / std::sqrt(CentredSquares(d, xr, m, C) / T(C) + eps);
    const auto vm = hn::Set(d, m), vs = hn::Set(d, s);
    int64_t c = 0;
    for (; c + N <= C; c += N) {
      auto v = hn::Mul(hn::Sub(hn::LoadU(d, xr + c), vm), vs);
      if (weight) v = hn::Mul(v, hn::LoadU(d, weight + c));
      if (bias) v = hn::Add(v, hn::LoadU(d, bias + c));
      hn::StoreU(v, d, yr + c);
    }
    for (; c < C; ++c) yr[c] = (xr[c] - m) * s * (weight ? weight[c] : T(1)) + (bias ? bias[c] : T(0));
    mean[r] = m;
    rstd[r] = s;
  }
}

// dx = rstd * (d - mean(d) - xhat * mean(d * xhat)), d = dy * w (llm.c layernorm_backward).
template <class T>
void LayerNormBackward(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd, int64_t rows, int64_t C,
                       T* dx, T* dweight, T* dbias) {
  const hn::ScalableTag<T> d;
  const int64_t N = int64_t(hn::Lanes(d));
  for (int64_t r = 0; r < rows; ++r) {
    const T* dyr = dy + r * C;  // (C)
    const T* xr = x + r * C;    // (C)
    const T m = mean[r], s = rstd[r];
    const auto vm = hn::Set(d, m), vs = hn::Set(d, s);
    if (dx) {
      auto sum_d = hn::Zero(d), sum_dx = hn::Zero(d);
      int64_t c = 0;
      for (; c + N <= C; c += N) {
        auto g = hn::LoadU(d, dyr + c);
        if (weight) g = hn::Mul(g, hn::LoadU(d, weight + c));
        const auto xhat = hn::Mul(hn::Sub(hn::LoadU(d, xr + c), vm), vs);
        sum_d = hn::Add(sum_d, g);
        sum_dx = hn::MulAdd(g, xhat, sum_dx);
      }
      T dsum = hn::GetLane(hn::SumOfLanes(d, sum_d)), dxsum = hn::GetLane(hn::SumOfLanes(d, sum_dx));
      for (; c < C; ++c) {
        const T g = dyr[c] * (weight ? weight[c] : T(1));
        dsum += g;
        dxsum += g * (xr[c] - m) * s;
      }
      const T dmean = dsum / T(C), dxmean = dxsum / T(C);
      const auto vdmean = hn::Set(d, dmean), vdxmean = hn::Set(d, dxmean);
      T* dxr = dx + r * C;  // (C)
      for (c = 0; c + N <= C; c += N) {
        auto g = hn::LoadU(d, dyr + c);
        if (weight) g = hn::Mul(g, hn::LoadU(d, weight + c));
        const auto xhat = hn::Mul(hn::Sub(hn::LoadU(d, xr + c), vm), vs);
        // rstd * (g - dmean - xhat * dxmean)
        hn::StoreU(hn::Mul(vs, hn::NegMulAdd(xhat, vdxmean, hn::Sub(g, vdmean))), d, dxr + c);
      }
      for (; c < C; ++c) {
        const T g = dyr[c] * (weight ? weight[c] : T(1));
        dxr[c] = s * (g - dmean - (xr[c] - m) * s * dxmean);
      }
    }
    if (dweight || dbias) {
      int64_t c = 0;
      for (; c + N <= C; c += N) {
        const auto g = hn::LoadU(d, dyr + c);
        if (dweight) {
          const auto xhat = hn::Mul(hn::Sub(hn::LoadU(d, xr + c), vm), vs);
          hn::StoreU(hn::MulAdd(g, xhat, hn::LoadU(d, dweight + c)), d, dweight + c);
        }
        if (dbias) hn::StoreU(hn::Add(g, hn::LoadU(d, dbias + c)), d, dbias + c);
      }
      for (; c < C; ++c) {
        if (dweight) dweight[c] += dyr[c] * (xr[c] - m) * s;
        if (dbias) dbias[c] += dyr[c];
      }
    }
  }
}

void LayerNormForwardF32(const float* x, const float* w, const float* b, float eps, int64_t rows, int64_t C, float* y,
                         float* mean, float* rstd) {
  LayerNormForward<float>(x, w, b, eps, rows, C, y, mean, rstd);
}
void LayerNormForwardF64(const double* x, const double* w, const double* b, double eps, int64_t rows, int64_t C,
                         double* y, double* mean, double* rstd) {
  LayerNormForward<double>(x, w, b, eps, rows, C, y, mean, rstd);
}
void LayerNormBackwardF32(const float* dy, const float* x, const float* w, const float* mean, const float* rstd,
                          int64_t rows, int64_t C, float* dx, float* dw, float* db) {
  LayerNormBackward<float>(dy, x, w, mean, rstd, rows, C, dx, dw, db);
}
void LayerNormBackwardF64(const double* dy, const double* x, const double* w, const double* mean, const double* rstd,
                          int64_t rows, int64_t C, double* dx, double* dw, double* db) {
  LayerNormBackward<double>(dy, x, w, mean, rstd, rows, C, dx, dw, db);
}

}  // namespace HWY_NAMESPACE
}  // namespace hm::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hm::cpu {
HWY_EXPORT(LayerNormForwardF32);
HWY_EXPORT(LayerNormForwardF64);
HWY_EXPORT(LayerNormBackwardF32);
HWY_EXPORT(LayerNormBackwardF64);

namespace simd {
void layer_norm_forward_f32(const float* x, const float* weight, const float* bias, float eps, int64_t rows, int64_t C,
                            float* y, float* mean, float* rstd) {
  HWY_DYNAMIC_DISPATCH(LayerNormForwardF32)(x, weight, bias, eps, rows, C, y, mean, rstd);
}
void layer_norm_forward_f64(const double* x, const double* weight, const double* bias, double eps, int64_t rows,
                            int64_t C, double* y, double* mean, double* rstd) {
  HWY_DYNAMIC_DISPATCH(LayerNormForwardF64)(x, weight, bias, eps, rows, C, y, mean, rstd);
}
void layer_norm_backward_f32(const float* dy, const float* x, const float* weight, const float* mean, const float* rstd,
                             int64_t rows, int64_t C, float* dx, float* dweight, float* dbias) {
  HWY_DYNAMIC_DISPATCH(LayerNormBackwardF32)(dy, x, weight, mean, rstd, rows, C, dx, dweight, dbias);
}
void layer_norm_backward_f64(const double* dy, const double* x, const double* weight, const double* mean,
                             const double* rstd, int64_t rows, int64_t C, double* dx, double* dweight, double* dbias) {
  HWY_DYNAMIC_DISPATCH(LayerNormBackwardF64)(dy, x, weight, mean, rstd, rows, C, dx, dweight, dbias);
}
}  // namespace simd
}  // namespace hm::cpu
#endif  // HWY_ONCE
