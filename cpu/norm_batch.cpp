// Batch norm on (B, C, L) with statistics per channel over (B, L) (torch.nn.functional.batch_norm, the
// Conformer convolution module's BatchNorm1d), plus an optional padding mask (B, L) whose padded frames
// (mask = 1) are left out of the statistics and the running-stat update. Parallel over channels.
#include <cmath>

#include "cpu/norm.h"
#include "cpu/parallel.h"

namespace hm::cpu {
namespace {

int64_t count_valid(const uint8_t* pad_mask, int64_t B, int64_t L) {
  if (!pad_mask) return B * L;
  int64_t n = 0;
  for (int64_t i = 0; i < B * L; ++i) n += pad_mask[i] == 0;
  return n;
}

// sum over l of (x[l] - shift) (squared when `square`), skipping padded frames (mask[l] != 0; mask may be null).
template <class T>
T masked_sum(const T* x, const uint8_t* mask, T shift, int64_t L, bool square = false) {
  T s = 0;
  if (square) {
#pragma omp simd reduction(+ : s)
    for (int64_t l = 0; l < L; ++l) s += (mask && mask[l]) ? T(0) : (x[l] - shift) * (x[l] - shift);
  } else {
#pragma omp simd reduction(+ : s)
    for (int64_t l = 0; l < L; ++l) s += (mask && mask[l]) ? T(0) : x[l] - shift;
  }
  return s;
}

}  // namespace

template <class T>
int64_t batch_norm_stats(const T* x, const uint8_t* pad_mask, int64_t B, int64_t C, int64_t L, T* mean, T* var) {
  const int64_t n = count_valid(pad_mask, B, L);
  parallel_for(C, 4 * B * L, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      // Two passes (mean, then centred squares) for accuracy, over valid frames only.
      T sum = 0;
      for (int64_t b = 0; b < B; ++b)
        sum += masked_sum(x + (b * C + c) * L, pad_mask ? pad_mask + b * L : nullptr, T(0), L);
      const T m = n > 0 ? sum / T(n) : T(0);
      T sq = 0;
      for (int64_t b = 0; b < B; ++b)
        sq += masked_sum(x + (b * C + c) * L, pad_mask ? pad_mask + b * L : nullptr, m, L, true);
      mean[c] = m;
      var[c] = n > 0 ? sq / T(n) : T(0);
    }
  });
  return n;
}

template <class T>
void batch_norm_update_running(const T* mean, const T* var, int64_t n, T momentum, int64_t C, T* running_mean,
                               T* running_var) {
  // ATen batch_norm_cpu_update_stats_template: running_var uses the unbiased variance var * n / (n - 1).
  const T unbias = T(n) / T(n - 1);
  for (int64_t c = 0; c < C; ++c) {
    if (running_mean) running_mean[c] = (T(1) - momentum) * running_mean[c] + momentum * mean[c];
    if (running_var) running_var[c] = (T(1) - momentum) * running_var[c] + momentum * var[c] * unbias;
  }
}

template <class T>
void batch_norm_rstd(const T* var, T eps, int64_t C, T* rstd) {
  for (int64_t c = 0; c < C; ++c) rstd[c] = T(1) / std::sqrt(var[c] + eps);
}

template <class T>
void batch_norm_apply(const T* x, const T* mean, const T* rstd, const T* weight, const T* bias, int64_t B, int64_t C,
                      int64_t L, T* y) {
  parallel_for(B * C, 2 * L, [&](int64_t begin, int64_t end) {
    for (int64_t bc = begin; bc < end; ++bc) {
      const int64_t c = bc % C;
      // y = (x - mean) * rstd * w + b = x * a + (b - mean * a)
      const T a = rstd[c] * (weight ? weight[c] : T(1));
      const T shift = (bias ? bias[c] : T(0)) - mean[c] * a;
      const T* xr = x + bc * L;  // (L)
      T* yr = y + bc * L;        // (L)
      for (int64_t l = 0; l < L; ++l) yr[l] = xr[l] * a + shift;
    }
  });
}

template <class T>
void batch_norm_backward(const T* dy, const T* x, const uint8_t* pad_mask, const T* weight, const T* mean,
                         const T* rstd, bool training, int64_t n_valid, int64_t B, int64_t C, int64_t L, T* dx,
                         T* dweight, T* dbias) {
  parallel_for(C, 8 * B * L, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const T m = mean[c], s = rstd[c], w = weight ? weight[c] : T(1);
      T sum_dy = 0, sum_dy_xhat = 0;  // over every frame, padded ones included
      for (int64_t b = 0; b < B; ++b) {
        const T* xr = x + (b * C + c) * L;    // (L)
        const T* dyr = dy + (b * C + c) * L;  // (L)
#pragma omp simd reduction(+ : sum_dy, sum_dy_xhat)
        for (int64_t l = 0; l < L; ++l) {
          sum_dy += dyr[l];
          sum_dy_xhat += dyr[l] * (xr[l] - m) * s;
        }
      }
      if (dweight) dweight[c] = sum_dy_xhat;
      if (dbias) dbias[c] = sum_dy;
      if (!dx) continue;
      // d = dy * w: mean and rstd depend only on valid frames, so only those receive the statistics terms
      // -(rstd / n) * (sum d + xhat * sum d * xhat).
      const T k_mean = training ? w * sum_dy / T(n_valid) : T(0);
      const T k_xhat = training ? w * sum_dy_xhat / T(n_valid) : T(0);
      for (int64_t b = 0; b < B; ++b) {
        const T* xr = x + (b * C + c) * L;
        const T* dyr = dy + (b * C + c) * L;
        T* dxr = dx + (b * C + c) * L;  // (L)
        const uint8_t* mr = pad_mask ? pad_mask + b * L : nullptr;
        for (int64_t l = 0; l < L; ++l) {
          const bool valid = !mr || !mr[l];
          const T xhat = (xr[l] - m) * s;
          dxr[l] = valid ? s * (dyr[l] * w - k_mean - xhat * k_xhat) : s * dyr[l] * w;
        }
      }
    }
  });
}

template int64_t batch_norm_stats<float>(const float*, const uint8_t*, int64_t, int64_t, int64_t, float*, float*);
template int64_t batch_norm_stats<double>(const double*, const uint8_t*, int64_t, int64_t, int64_t, double*, double*);
template void batch_norm_update_running<float>(const float*, const float*, int64_t, float, int64_t, float*, float*);
template void batch_norm_update_running<double>(const double*, const double*, int64_t, double, int64_t, double*,
                                                double*);
template void batch_norm_rstd<float>(const float*, float, int64_t, float*);
template void batch_norm_rstd<double>(const double*, double, int64_t, double*);
template void batch_norm_apply<float>(const float*, const float*, const float*, const float*, const float*, int64_t,
                                      int64_t, int64_t, float*);
template void batch_norm_apply<double>(const double*, const double*, const double*, const double*, const double*,
                                       int64_t, int64_t, int64_t, double*);
template void batch_norm_backward<float>(const float*, const float*, const uint8_t*, const float*, const float*,
                                         const float*, bool, int64_t, int64_t, int64_t, int64_t, float*, float*,
                                         float*);
template void batch_norm_backward<double>(const double*, const double*, const uint8_t*, const double*, const double*,
                                          const double*, bool, int64_t, int64_t, int64_t, int64_t, double*, double*,
                                          double*);

}  // namespace hm::cpu
