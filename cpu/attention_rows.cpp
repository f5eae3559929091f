// Highway row kernels for the blocked attention variant (declared in cpu/attention.h, namespace rows):
// masked softmax with logsumexp, probability recompute from lse, the softmax gradient, and the Philox dropout
// keep mask. Compiled once per SIMD target (foreach_target) and picked at run time (HWY_DYNAMIC_DISPATCH).
// Row tails shorter than a vector use the same formulas in scalar code.
// foreach_target.h must come first: it re-includes this file once per target.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/attention_rows.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>
// clang-format on

#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/attention.h"
#include "engine/rng.h"

HWY_BEFORE_NAMESPACE();
namespace hm::cpu::rows::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// softmax over [0, n_valid) of s + bias; see cpu/attention.h. Three passes over a row that sits in L1.
template <class T>
T SoftmaxRow(T* HWY_RESTRICT s, const T* HWY_RESTRICT bias, int64_t n_valid, int64_t n_total) {
  const hn::ScalableTag<T> d;
  const int64_t N = int64_t(hn::Lanes(d));
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  // Pass 1: s += bias (0 or -inf per key), row max.
  auto vmax = hn::Set(d, kNegInf);
  int64_t j = 0;
  for (; j + N <= n_valid; j += N) {
    auto x = hn::LoadU(d, s + j);
    if (bias) x = hn::Add(x, hn::LoadU(d, bias + j));
    hn::StoreU(x, d, s + j);
    vmax = hn::Max(vmax, x);
  }
  T mx = hn::GetLane(hn::MaxOfLanes(d, vmax));
  for (; j < n_valid; ++j) {
    if (bias) s[j] += bias[j];
    mx = std::max(mx, s[j]);
  }
  if (mx == kNegInf) {  // every key masked: zero row, lse = -inf (cpu/attention.h)
    std::fill(s, s + n_total, T(0));
    return kNegInf;
  }
  // Pass 2: e = exp(s - max) (hn::Exp returns 0 below -104 / -1000, so -inf -> 0), row sum.
  const auto vm = hn::Set(d, mx);
  auto vsum = hn::Zero(d);
  for (j = 0; j + N <= n_valid; j += N) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, s + j), vm));
    hn::StoreU(e, d, s + j);
    vsum = hn::Add(vsum, e);
  }
  T sum = hn::GetLane(hn::SumOfLanes(d, vsum));
  for (; j < n_valid; ++j) {
    s[j] = std::exp(s[j] - mx);
    sum += s[j];
  }
  // Pass 3: normalise; keys past n_valid (causal) are 0.
  const auto vinv = hn::Set(d, T(1) / sum);
  for (j = 0; j + N <= n_valid; j += N) hn::StoreU(hn::Mul(hn::LoadU(d, s + j), vinv), d, s + j);
  for (; j < n_valid; ++j) s[j] *= T(1) / sum;
  std::fill(s + n_valid, s + n_total, T(0));
  return mx + std::log(sum);
}

// P = exp(s + bias - lse) on [0, n_valid), 0 after and everywhere when lse = -inf.
template <class T>
void RecomputeRow(T* HWY_RESTRICT s, const T* HWY_RESTRICT bias, T lse, int64_t n_valid, int64_t n_total) {
  if (lse == -std::numeric_limits<T>::infinity()) {
    std::fill(s, s + n_total, T(0));
    return;
  }
  const hn::ScalableTag<T> d;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto vl = hn::Set(d, lse);
  int64_t j = 0;
  for (; j + N <= n_valid; j += N) {
    auto x = hn::Sub(hn::LoadU(d, s + j), vl);
    if (bias) x = hn::Add(x, hn::LoadU(d, bias + j));
    hn::StoreU(hn::Exp(d, x), d, s + j);
  }
  for (; j < n_valid; ++j) s[j] = std::exp(s[j] + (bias ? bias[j] : T(0)) - lse);
  std::fill(s + n_valid, s + n_total, T(0));
}

// dp := p * (dp * keep - D)   (dS of the softmax; keep = dropout factors or null)
template <class T>
void SoftmaxGradRow(T* HWY_RESTRICT dp, const T* HWY_RESTRICT p, const T* HWY_RESTRICT keep, T D, int64_t n) {
  const hn::ScalableTag<T> d;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto vD = hn::Set(d, D);
  int64_t j = 0;
  for (; j + N <= n; j += N) {
    auto g = hn::LoadU(d, dp + j);
    if (keep) g = hn::Mul(g, hn::LoadU(d, keep + j));
    hn::StoreU(hn::Mul(hn::LoadU(d, p + j), hn::Sub(g, vD)), d, dp + j);
  }
  for (; j < n; ++j) dp[j] = p[j] * ((keep ? dp[j] * keep[j] : dp[j]) - D);
}

template <class T>
void MulRow(T* out, const T* a, const T* b, int64_t n) {
  const hn::ScalableTag<T> d;
  const int64_t N = int64_t(hn::Lanes(d));
  int64_t j = 0;
  for (; j + N <= n; j += N) hn::StoreU(hn::Mul(hn::LoadU(d, a + j), hn::LoadU(d, b + j)), d, out + j);
  for (; j < n; ++j) out[j] = a[j] * b[j];
}

#if HWY_TARGET != HWY_SCALAR  // one-lane vectors cannot be repartitioned to 64-bit lanes
// hi and lo 32 bits of a * m per u32 lane (Philox's mulhilo32), from two widening even-lane multiplies.
template <class D, class V>
HWY_INLINE void MulHiLo(D du, V a, V m, V& hi, V& lo) {
  const hn::RepartitionToWide<D> dw;
  const auto even = hn::MulEven(a, m);                                                       // a[2i] * m
  const auto odd = hn::MulEven(hn::BitCast(du, hn::ShiftRight<32>(hn::BitCast(dw, a))), m);  // a[2i+1] * m
  hi = hn::OddEven(hn::BitCast(du, odd), hn::BitCast(du, hn::ShiftRight<32>(even)));
  lo = hn::OddEven(hn::BitCast(du, hn::ShiftLeft<32>(odd)), hn::BitCast(du, even));
}

// words[4 b + w] = word w of philox4x32(key, first + b, 0) for whole vectors of blocks: Lanes(du) blocks per
// vector, one counter per lane (structure-of-arrays), the same rounds as engine/rng.cpp. Returns the number of
// blocks written; the caller finishes the rest with the engine's scalar Philox.
int64_t PhiloxVectorBlocks(uint64_t key, uint64_t first, int64_t n_blocks, uint32_t* HWY_RESTRICT words) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u, kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  const hn::ScalableTag<uint32_t> du;
  const int64_t N = int64_t(hn::Lanes(du));
  const auto m0 = hn::Set(du, kM0), m1 = hn::Set(du, kM1);
  int64_t b = 0;
  for (; b + N <= n_blocks; b += N) {
    const uint64_t base = first + uint64_t(b);
    if (uint32_t(base) > 0xFFFFFFFFu - uint32_t(N - 1)) break;  // the low counter word would carry in-vector
    auto c0 = hn::Iota(du, uint32_t(base)), c1 = hn::Set(du, uint32_t(base >> 32));
    auto c2 = hn::Zero(du), c3 = hn::Zero(du);
    uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
    for (int round = 0; round < 10; ++round) {
      decltype(c0) hi0, lo0, hi1, lo1;
      MulHiLo(du, c0, m0, hi0, lo0);
      MulHiLo(du, c2, m1, hi1, lo1);
      const auto n0 = hn::Xor(hn::Xor(hi1, c1), hn::Set(du, k0));
      const auto n2 = hn::Xor(hn::Xor(hi0, c3), hn::Set(du, k1));
      c1 = lo1;
      c3 = lo0;
      c0 = n0;
      c2 = n2;
      k0 += kW0;
      k1 += kW1;
    }
    hn::StoreInterleaved4(c0, c1, c2, c3, du, words + 4 * b);
  }
  return b;
}
#else
int64_t PhiloxVectorBlocks(uint64_t, uint64_t, int64_t, uint32_t*) { return 0; }
#endif

void PhiloxWords(uint64_t key, uint64_t first, int64_t n_blocks, uint32_t* HWY_RESTRICT words) {
  for (int64_t b = PhiloxVectorBlocks(key, first, n_blocks, words); b < n_blocks; ++b) {
    const auto r = philox4x32(key, first + uint64_t(b), 0);
    for (int w = 0; w < 4; ++w) words[4 * b + w] = r[size_t(w)];
  }
}

template <class T>
void DropoutKeepRow(uint64_t seed, uint64_t offset, uint64_t e0, int64_t n, uint32_t threshold, T scale,
                    uint32_t* HWY_RESTRICT words, T* HWY_RESTRICT keep) {
  const int64_t skip = int64_t(e0 % 4);
  PhiloxWords(seed, offset + e0 / 4, (skip + n + 3) / 4, words);
  const uint32_t* w = words + skip;
  for (int64_t j = 0; j < n; ++j) keep[j] = w[j] >= threshold ? scale : T(0);  // vectorised by the compiler
}

float SoftmaxF32(float* s, const float* bias, int64_t nv, int64_t nt) { return SoftmaxRow(s, bias, nv, nt); }
double SoftmaxF64(double* s, const double* bias, int64_t nv, int64_t nt) { return SoftmaxRow(s, bias, nv, nt); }
void RecomputeF32(float* s, const float* bias, float lse, int64_t nv, int64_t nt) {
  RecomputeRow(s, bias, lse, nv, nt);
}
void RecomputeF64(double* s, const double* bias, double lse, int64_t nv, int64_t nt) {
  RecomputeRow(s, bias, lse, nv, nt);
}
void SoftmaxGradF32(float* dp, const float* p, const float* keep, float D, int64_t n) {
  SoftmaxGradRow(dp, p, keep, D, n);
}
void SoftmaxGradF64(double* dp, const double* p, const double* keep, double D, int64_t n) {
  SoftmaxGradRow(dp, p, keep, D, n);
}
void MulF32(float* out, const float* a, const float* b, int64_t n) { MulRow(out, a, b, n); }
void MulF64(double* out, const double* a, const double* b, int64_t n) { MulRow(out, a, b, n); }
void DropoutKeepF32(uint64_t seed, uint64_t offset, uint64_t e0, int64_t n, uint32_t threshold, float scale,
                    uint32_t* words, float* keep) {
  DropoutKeepRow(seed, offset, e0, n, threshold, scale, words, keep);
}
void DropoutKeepF64(uint64_t seed, uint64_t offset, uint64_t e0, int64_t n, uint32_t threshold, double scale,
                    uint32_t* words, double* keep) {
  DropoutKeepRow(seed, offset, e0, n, threshold, scale, words, keep);
}

}  // namespace hm::cpu::rows::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hm::cpu::rows {

HWY_EXPORT(SoftmaxF32);
HWY_EXPORT(SoftmaxF64);
HWY_EXPORT(RecomputeF32);
HWY_EXPORT(RecomputeF64);
HWY_EXPORT(SoftmaxGradF32);
HWY_EXPORT(SoftmaxGradF64);
HWY_EXPORT(MulF32);
HWY_EXPORT(MulF64);
HWY_EXPORT(DropoutKeepF32);
HWY_EXPORT(DropoutKeepF64);

float softmax(float* s, const float* bias, int64_t nv, int64_t nt) {
  return HWY_DYNAMIC_DISPATCH(SoftmaxF32)(s, bias, nv, nt);
}
double softmax(double* s, const double* bias, int64_t nv, int64_t nt) {
  return HWY_DYNAMIC_DISPATCH(SoftmaxF64)(s, bias, nv, nt);
}
void recompute_probs(float* s, const float* bias, float lse, int64_t nv, int64_t nt) {
  HWY_DYNAMIC_DISPATCH(RecomputeF32)(s, bias, lse, nv, nt);
}
void recompute_probs(double* s, const double* bias, double lse, int64_t nv, int64_t nt) {
  HWY_DYNAMIC_DISPATCH(RecomputeF64)(s, bias, lse, nv, nt);
}
void softmax_grad(float* dp, const float* p, const float* keep, float D, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SoftmaxGradF32)(dp, p, keep, D, n);
}
void softmax_grad(double* dp, const double* p, const double* keep, double D, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SoftmaxGradF64)(dp, p, keep, D, n);
}
void mul(float* out, const float* a, const float* b, int64_t n) { HWY_DYNAMIC_DISPATCH(MulF32)(out, a, b, n); }
void mul(double* out, const double* a, const double* b, int64_t n) { HWY_DYNAMIC_DISPATCH(MulF64)(out, a, b, n); }
void dropout_keep(uint64_t seed, uint64_t offset, uint64_t e0, int64_t n, uint32_t threshold, float scale,
                  uint32_t* words, float* keep) {
  HWY_DYNAMIC_DISPATCH(DropoutKeepF32)(seed, offset, e0, n, threshold, scale, words, keep);
}
void dropout_keep(uint64_t seed, uint64_t offset, uint64_t e0, int64_t n, uint32_t threshold, double scale,
                  uint32_t* words, double* keep) {
  HWY_DYNAMIC_DISPATCH(DropoutKeepF64)(seed, offset, e0, n, threshold, scale, words, keep);
}

}  // namespace hm::cpu::rows
#endif  // HWY_ONCE
