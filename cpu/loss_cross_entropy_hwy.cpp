// Highway cross-entropy (the "highway" variant of the cross_entropy_* kernel tables): the scalar reference's
// formulas (cpu/loss_cross_entropy.cpp) with the per-row max, exp-sum and softmax vectorised over classes. Every
// exp argument is x - max <= 0 or x - lse <= 0, inside hn::Exp's valid range.
// foreach_target.h re-includes this file once per target; highway.h and the contrib headers must follow it.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/loss_cross_entropy_hwy.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"
// clang-format on

#include <cmath>
#include <limits>

#include "cpu/loss.h"

HWY_BEFORE_NAMESPACE();
namespace hm::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class T>
void CrossEntropyForward(const T* logits, const int64_t* target, const T* class_weight, int64_t ignore_index,
                         int64_t rows, int64_t C, T* loss, T* lse, T* row_weight) {
  const hn::ScalableTag<T> d;
  const int64_t N = int64_t(hn::Lanes(d));
  for (int64_t i = 0; i < rows; ++i) {
    const T* x = logits + i * C;  // (C)
    auto vmax = hn::Set(d, -std::numeric_limits<T>::infinity());
    int64_t c = 0;
    for (; c + N <= C; c += N) vmax = hn::Max(vmax, hn::LoadU(d, x + c));
    T m = hn::GetLane(hn::MaxOfLanes(d, vmax));
    for (; c < C; ++c) m = x[c] > m ? x[c] : m;
    const auto vm = hn::Set(d, m);
    auto vsum = hn::Zero(d);
    for (c = 0; c + N <= C; c += N) vsum = hn::Add(vsum, hn::Exp(d, hn::Sub(hn::LoadU(d, x + c), vm)));
    T s = hn::GetLane(hn::SumOfLanes(d, vsum));
    for (; c < C; ++c) s += std::exp(x[c] - m);
    lse[i] = m + std::log(s);
    const int64_t t = target[i];
    if (t == ignore_index) {
      loss[i] = 0;
      row_weight[i] = 0;
      continue;
    }
    const T w = class_weight ? class_weight[t] : T(1);
    loss[i] = w * (lse[i] - x[t]);
    row_weight[i] = w;
  }
}

template <class T>
void CrossEntropyBackward(const T* logits, const int64_t* target, const T* class_weight, int64_t ignore_index,
                          const T* lse, const T* row_grad, int64_t rows, int64_t C, T* dlogits) {
  const hn::ScalableTag<T> d;
  const int64_t N = int64_t(hn::Lanes(d));
  for (int64_t i = 0; i < rows; ++i) {
    const T* x = logits + i * C;  // (C)
    T* dx = dlogits + i * C;      // (C)
    const int64_t t = target[i];
    if (t == ignore_index) {
      for (int64_t c = 0; c < C; ++c) dx[c] = 0;
      continue;
    }
    const T k = row_grad[i] * (class_weight ? class_weight[t] : T(1));
    const auto vk = hn::Set(d, k), vlse = hn::Set(d, lse[i]);
    int64_t c = 0;
    for (; c + N <= C; c += N) hn::StoreU(hn::Mul(vk, hn::Exp(d, hn::Sub(hn::LoadU(d, x + c), vlse))), d, dx + c);
    for (; c < C; ++c) dx[c] = k * std::exp(x[c] - lse[i]);
    dx[t] -= k;
  }
}

void CrossEntropyForwardF32(const float* logits, const int64_t* target, const float* w, int64_t ignore, int64_t rows,
                            int64_t C, float* loss, float* lse, float* rw) {
  CrossEntropyForward(logits, target, w, ignore, rows, C, loss, lse, rw);
}
void CrossEntropyForwardF64(const double* logits, const int64_t* target, const double* w, int64_t ignore, int64_t rows,
                            int64_t C, double* loss, double* lse, double* rw) {
  CrossEntropyForward(logits, target, w, ignore, rows, C, loss, lse, rw);
}
void CrossEntropyBackwardF32(const float* logits, const int64_t* target, const float* w, int64_t ignore,
                             const float* lse, const float* rg, int64_t rows, int64_t C, float* dx) {
  CrossEntropyBackward(logits, target, w, ignore, lse, rg, rows, C, dx);
}
void CrossEntropyBackwardF64(const double* logits, const int64_t* target, const double* w, int64_t ignore,
                             const double* lse, const double* rg, int64_t rows, int64_t C, double* dx) {
  CrossEntropyBackward(logits, target, w, ignore, lse, rg, rows, C, dx);
}

}  // namespace HWY_NAMESPACE
}  // namespace hm::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hm::cpu {
HWY_EXPORT(CrossEntropyForwardF32);
HWY_EXPORT(CrossEntropyForwardF64);
HWY_EXPORT(CrossEntropyBackwardF32);
HWY_EXPORT(CrossEntropyBackwardF64);

namespace simd {
void cross_entropy_forward_f32(const float* logits, const int64_t* target, const float* class_weight,
                               int64_t ignore_index, int64_t rows, int64_t C, float* loss, float* lse,
                               float* row_weight) {
  HWY_DYNAMIC_DISPATCH(CrossEntropyForwardF32)
  (logits, target, class_weight, ignore_index, rows, C, loss, lse, row_weight);
}
void cross_entropy_forward_f64(const double* logits, const int64_t* target, const double* class_weight,
                               int64_t ignore_index, int64_t rows, int64_t C, double* loss, double* lse,
                               double* row_weight) {
  HWY_DYNAMIC_DISPATCH(CrossEntropyForwardF64)
  (logits, target, class_weight, ignore_index, rows, C, loss, lse, row_weight);
}
void cross_entropy_backward_f32(const float* logits, const int64_t* target, const float* class_weight,
                                int64_t ignore_index, const float* lse, const float* row_grad, int64_t rows, int64_t C,
                                float* dlogits) {
  HWY_DYNAMIC_DISPATCH(CrossEntropyBackwardF32)
  (logits, target, class_weight, ignore_index, lse, row_grad, rows, C, dlogits);
}
void cross_entropy_backward_f64(const double* logits, const int64_t* target, const double* class_weight,
                                int64_t ignore_index, const double* lse, const double* row_grad, int64_t rows,
                                int64_t C, double* dlogits) {
  HWY_DYNAMIC_DISPATCH(CrossEntropyBackwardF64)
  (logits, target, class_weight, ignore_index, lse, row_grad, rows, C, dlogits);
}
}  // namespace simd
}  // namespace hm::cpu
#endif  // HWY_ONCE
