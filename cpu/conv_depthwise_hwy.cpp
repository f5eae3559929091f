// Depthwise conv1d (groups == Cin == Cout) as direct SIMD over time, with Highway dynamic dispatch. Serves the
// Conformer depthwise conv (k = 31, same padding) and Mamba's causal conv (k = 4, left pad 3, bias).
//
// Each (b, c) row is an independent K-tap filter: y[t] = bias + sum_k w[k] * xp[t*s + k*d] with xp the
// zero-padded row (xp[j] = x[j - pl]). The row is copied once into a padded buffer split into `s` phases,
// phase r holding xp[r], xp[r + s], xp[r + 2s], ...; tap k then reads phase (k*d) % s from offset (k*d) / s
// contiguously, so any stride vectorises as plain unaligned loads:
//   forward:         y[t]   = bias + sum_k w[k] * phase_{kd%s}[kd/s + t]
//   backward input:  dx[sm + r - pl] = sum_{k: kd%s == r} w[k] * dy[m - kd/s]    (per input phase r)
//   backward weight: dw[k]  = sum_{b, t} dy[b, t] * phase_{kd%s}[kd/s + t]
// Work per row is K*Lout FMAs; the copies are O(L) and stay in L1 for speech lengths.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/conv_depthwise_hwy.cpp"
#include <algorithm>
#include <vector>

#include "cpu/conv.h"
#include "cpu/parallel.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace hm::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// out[t] = init + sum_j w[j] * src[j][t] for t in [0, n). Four vectors of outputs stay in registers while the taps
// stream past (one broadcast + one unaligned load per FMA).
template <class T>
void tap_sum(const T* const* src, const T* w, size_t taps, T init, T* out, size_t n) {
  const hn::ScalableTag<T> d;
  const size_t N = hn::Lanes(d);
  size_t t = 0;
  for (; t + 4 * N <= n; t += 4 * N) {
    auto a0 = hn::Set(d, init), a1 = a0, a2 = a0, a3 = a0;
    for (size_t j = 0; j < taps; ++j) {
      const auto wj = hn::Set(d, w[j]);
      const T* p = src[j] + t;
      a0 = hn::MulAdd(wj, hn::LoadU(d, p), a0);
      a1 = hn::MulAdd(wj, hn::LoadU(d, p + N), a1);
      a2 = hn::MulAdd(wj, hn::LoadU(d, p + 2 * N), a2);
      a3 = hn::MulAdd(wj, hn::LoadU(d, p + 3 * N), a3);
    }
    hn::StoreU(a0, d, out + t);
    hn::StoreU(a1, d, out + t + N);
    hn::StoreU(a2, d, out + t + 2 * N);
    hn::StoreU(a3, d, out + t + 3 * N);
  }
  for (; t + N <= n; t += N) {
    auto a = hn::Set(d, init);
    for (size_t j = 0; j < taps; ++j) a = hn::MulAdd(hn::Set(d, w[j]), hn::LoadU(d, src[j] + t), a);
    hn::StoreU(a, d, out + t);
  }
  for (; t < n; ++t) {
    T a = init;
    for (size_t j = 0; j < taps; ++j) a += w[j] * src[j][t];
    out[t] = a;
  }
}

// acc[j] += sum_t a[t] * src[j][t] for j in [0, taps). Taps go in groups of four sharing each load of `a`.
template <class T>
void tap_dots(const T* a, const T* const* src, size_t taps, size_t n, T* acc) {
  const hn::ScalableTag<T> d;
  const size_t N = hn::Lanes(d);
  size_t j = 0;
  for (; j + 4 <= taps; j += 4) {
    const T *s0 = src[j], *s1 = src[j + 1], *s2 = src[j + 2], *s3 = src[j + 3];
    auto c0 = hn::Zero(d), c1 = c0, c2 = c0, c3 = c0;
    size_t t = 0;
    for (; t + N <= n; t += N) {
      const auto av = hn::LoadU(d, a + t);
      c0 = hn::MulAdd(av, hn::LoadU(d, s0 + t), c0);
      c1 = hn::MulAdd(av, hn::LoadU(d, s1 + t), c1);
      c2 = hn::MulAdd(av, hn::LoadU(d, s2 + t), c2);
      c3 = hn::MulAdd(av, hn::LoadU(d, s3 + t), c3);
    }
    T r0 = hn::GetLane(hn::SumOfLanes(d, c0)), r1 = hn::GetLane(hn::SumOfLanes(d, c1));
    T r2 = hn::GetLane(hn::SumOfLanes(d, c2)), r3 = hn::GetLane(hn::SumOfLanes(d, c3));
    for (; t < n; ++t) r0 += a[t] * s0[t], r1 += a[t] * s1[t], r2 += a[t] * s2[t], r3 += a[t] * s3[t];
    acc[j] += r0, acc[j + 1] += r1, acc[j + 2] += r2, acc[j + 3] += r3;
  }
  for (; j < taps; ++j) {
    const T* s0 = src[j];
    auto c0 = hn::Zero(d);
    size_t t = 0;
    for (; t + N <= n; t += N) c0 = hn::MulAdd(hn::LoadU(d, a + t), hn::LoadU(d, s0 + t), c0);
    T r0 = hn::GetLane(hn::SumOfLanes(d, c0));
    for (; t < n; ++t) r0 += a[t] * s0[t];
    acc[j] += r0;
  }
}

// The padded, phase-split copy of one input row and the K tap pointers into it (see the file comment).
template <class T>
struct PhasedRow {
  int64_t phase_len;           // P = ceil(Ln / s), Ln = (Lout-1)*s + (K-1)*d + 1 padded positions read
  std::vector<T> buf;          // (s, P): buf[r*P + m] = xp[m*s + r]
  std::vector<const T*> taps;  // (K,): taps[k] = &buf[(kd % s)*P + kd / s]

  explicit PhasedRow(const Conv1dGeom& g) {
    const int64_t Ln = (g.Lout - 1) * g.stride + (g.K - 1) * g.dilation + 1;
    phase_len = (Ln + g.stride - 1) / g.stride;
    buf.assign(size_t(g.stride * phase_len), T(0));
    taps.resize(size_t(g.K));
    for (int64_t k = 0; k < g.K; ++k) {
      const int64_t kd = k * g.dilation;
      taps[k] = buf.data() + (kd % g.stride) * phase_len + kd / g.stride;
    }
  }
  // Load row xr (L,): position j of the padded row is x[j - pl], zero outside [0, L).
  void load(const Conv1dGeom& g, const T* xr) {
    for (int64_t r = 0; r < g.stride; ++r) {
      T* ph = buf.data() + r * phase_len;
      for (int64_t m = 0; m < phase_len; ++m) {
        const int64_t i = m * g.stride + r - g.pad_left;
        ph[m] = (i >= 0 && i < g.L) ? xr[i] : T(0);
      }
    }
  }
};

template <class T>
void forward_impl(const Conv1dGeom& g, const T* x, const T* w, const T* bias, T* y) {
  const int64_t C = g.Cout;
  hm::cpu::parallel_for(g.B * C, g.K * g.Lout, [&](int64_t r0, int64_t r1) {
    PhasedRow<T> row(g);
    for (int64_t bc = r0; bc < r1; ++bc) {
      const int64_t c = bc % C;
      row.load(g, x + bc * g.L);  // x (B, C, L)
      tap_sum(row.taps.data(), w + c * g.K, size_t(g.K), bias ? bias[c] : T(0), y + bc * g.Lout, size_t(g.Lout));
    }
  });
}

template <class T>
void backward_input_impl(const Conv1dGeom& g, const T* dy, const T* w, T* dx) {
  const int64_t C = g.Cout, s = g.stride, pl = g.pad_left;
  const int64_t off = ((g.K - 1) * g.dilation) / s;  // largest kd / s
  const int64_t Lz = (g.L - 1 + pl) / s + 1 + off;   // dyz positions read
  hm::cpu::parallel_for(g.B * C, g.K * g.L, [&](int64_t r0, int64_t r1) {
    std::vector<T> dyz(static_cast<size_t>(Lz));                // dyz[u] = dy[u - off], zero outside [0, Lout)
    std::vector<T> tmp(size_t(s > 1 ? (g.L + s - 1) / s : 0));  // one input phase of dx
    std::vector<const T*> src;
    std::vector<T> wsub;
    for (int64_t bc = r0; bc < r1; ++bc) {
      const T* dyr = dy + bc * g.Lout;   // (Lout,)
      const T* wr = w + (bc % C) * g.K;  // (K,)
      T* dxr = dx + bc * g.L;            // (L,)
      for (int64_t u = 0; u < Lz; ++u) {
        const int64_t t = u - off;
        dyz[u] = (t >= 0 && t < g.Lout) ? dyr[t] : T(0);
      }
      for (int64_t r = 0; r < s; ++r) {
        // Input positions i = s*m + r - pl in [0, L) for m in [m_lo, m_hi).
        const int64_t m_lo = pl > r ? (pl - r + s - 1) / s : 0;
        const int64_t m_hi = std::max<int64_t>(m_lo, (g.L + pl - r + s - 1) / s);
        const int64_t count = m_hi - m_lo;
        if (count == 0) continue;
        src.clear(), wsub.clear();
        for (int64_t k = 0; k < g.K; ++k) {
          const int64_t kd = k * g.dilation;
          if (kd % s != r) continue;
          src.push_back(dyz.data() + m_lo + off - kd / s);
          wsub.push_back(wr[k]);
        }
        if (s == 1) {  // the only phase is dx itself (m_lo = pl, count = L)
          tap_sum(src.data(), wsub.data(), src.size(), T(0), dxr, size_t(count));
          continue;
        }
        tap_sum(src.data(), wsub.data(), src.size(), T(0), tmp.data(), size_t(count));
        for (int64_t u = 0; u < count; ++u) dxr[s * (m_lo + u) + r - pl] = tmp[u];
      }
    }
  });
}

template <class T>
void backward_weight_impl(const Conv1dGeom& g, const T* dy, const T* x, T* dw, T* db) {
  const int64_t C = g.Cout;
  hm::cpu::parallel_for(C, g.B * g.K * g.Lout, [&](int64_t c0, int64_t c1) {
    PhasedRow<T> row(g);
    for (int64_t c = c0; c < c1; ++c) {
      T* dwr = dw + c * g.K;  // (K,)
      std::fill(dwr, dwr + g.K, T(0));
      for (int64_t b = 0; b < g.B; ++b) {
        row.load(g, x + (b * C + c) * g.L);
        tap_dots(dy + (b * C + c) * g.Lout, row.taps.data(), size_t(g.K), size_t(g.Lout), dwr);
      }
    }
  });
  if (db) conv_bias_grad(dy, g.B, C, g.Lout, db);
}

void ForwardF32(const Conv1dGeom& g, const float* x, const float* w, const float* b, float* y) {
  forward_impl(g, x, w, b, y);
}
void ForwardF64(const Conv1dGeom& g, const double* x, const double* w, const double* b, double* y) {
  forward_impl(g, x, w, b, y);
}
void BackwardInputF32(const Conv1dGeom& g, const float* dy, const float* w, float* dx) {
  backward_input_impl(g, dy, w, dx);
}
void BackwardInputF64(const Conv1dGeom& g, const double* dy, const double* w, double* dx) {
  backward_input_impl(g, dy, w, dx);
}
void BackwardWeightF32(const Conv1dGeom& g, const float* dy, const float* x, float* dw, float* db) {
  backward_weight_impl(g, dy, x, dw, db);
}
void BackwardWeightF64(const Conv1dGeom& g, const double* dy, const double* x, double* dw, double* db) {
  backward_weight_impl(g, dy, x, dw, db);
}

}  // namespace hm::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hm::cpu {
namespace {
HWY_EXPORT(ForwardF32);
HWY_EXPORT(ForwardF64);
HWY_EXPORT(BackwardInputF32);
HWY_EXPORT(BackwardInputF64);
HWY_EXPORT(BackwardWeightF32);
HWY_EXPORT(BackwardWeightF64);

void forward_f32(const Conv1dGeom& g, const float* x, const float* w, const float* b, float* y) {
  HWY_DYNAMIC_DISPATCH(ForwardF32)(g, x, w, b, y);
}
void forward_f64(const Conv1dGeom& g, const double* x, const double* w, const double* b, double* y) {
  HWY_DYNAMIC_DISPATCH(ForwardF64)(g, x, w, b, y);
}
void backward_input_f32(const Conv1dGeom& g, const float* dy, const float* w, float* dx) {
  HWY_DYNAMIC_DISPATCH(BackwardInputF32)(g, dy, w, dx);
}
void backward_input_f64(const Conv1dGeom& g, const double* dy, const double* w, double* dx) {
  HWY_DYNAMIC_DISPATCH(BackwardInputF64)(g, dy, w, dx);
}
void backward_weight_f32(const Conv1dGeom& g, const float* dy, const float* x, float* dw, float* db) {
  HWY_DYNAMIC_DISPATCH(BackwardWeightF32)(g, dy, x, dw, db);
}
void backward_weight_f64(const Conv1dGeom& g, const double* dy, const double* x, double* dw, double* db) {
  HWY_DYNAMIC_DISPATCH(BackwardWeightF64)(g, dy, x, dw, db);
}
}  // namespace

Conv1dVariant conv1d_depthwise_highway() {
  return {{forward_f32, backward_input_f32, backward_weight_f32},
          {forward_f64, backward_input_f64, backward_weight_f64}};
}

}  // namespace hm::cpu
#endif  // HWY_ONCE
