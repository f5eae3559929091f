// Scalar reference layer norm (the "scalar" variant of the layer_norm_* kernel tables). Two-pass statistics
// (mean, then the mean of centred squares) rather than E[x^2] - mean^2, which cancels catastrophically when
// |mean| >> std; llm.c's layernorm_forward does the same.
#include <cmath>

#include "cpu/norm.h"

namespace hm::cpu::scalar {

template <class T>
void layer_norm_forward(const T* x, const T* weight, const T* bias, T eps, int64_t rows, int64_t C, T* y, T* mean,
                        T* rstd) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * C;  // (C)
    T* yr = y + r * C;        // (C)
    T sum = 0;
    for (int64_t c = 0; c < C; ++c) sum += xr[c];
    const T m = sum / T(C);
    T sq = 0;
    for (int64_t c = 0; c < C; ++c) sq += (xr[c] - m) * (xr[c] - m);
    const T s = T(1) / std::sqrt(sq / T(C) + eps);
    for (int64_t c = 0; c < C; ++c) {
      const T n = (xr[c] - m) * s;
      yr[c] = n * (weight ? weight[c] : T(1)) + (bias ? bias[c] : T(0));
    }
    mean[r] = m;
    rstd[r] = s;
  }
}

// llm.c layernorm_backward:
//   dnorm = dy * w;  dx = rstd * (dnorm - mean(dnorm) - xhat * mean(dnorm * xhat))
template <class T>
void layer_norm_backward(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd, int64_t rows,
                         int64_t C, T* dx, T* dweight, T* dbias) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* dyr = dy + r * C;  // (C)
    const T* xr = x + r * C;    // (C)
    const T m = mean[r], s = rstd[r];
    if (dx) {
      T dnorm_sum = 0, dnorm_xhat_sum = 0;
      for (int64_t c = 0; c < C; ++c) {
        const T d = dyr[c] * (weight ? weight[c] : T(1));
        dnorm_sum += d;
        dnorm_xhat_sum += d * (xr[c] - m) * s;
      }
      const T dnorm_mean = dnorm_sum / T(C), dnorm_xhat_mean = dnorm_xhat_sum / T(C);
      T* dxr = dx + r * C;  // (C)
      for (int64_t c = 0; c < C; ++c) {
        const T d = dyr[c] * (weight ? weight[c] : T(1));
        dxr[c] = s * (d - dnorm_mean - (xr[c] - m) * s * dnorm_xhat_mean);
      }
    }
    if (dweight)
      for (int64_t c = 0; c < C; ++c) dweight[c] += dyr[c] * (xr[c] - m) * s;
    if (dbias)
      for (int64_t c = 0; c < C; ++c) dbias[c] += dyr[c];
  }
}

template void layer_norm_forward<float>(const float*, const float*, const float*, float, int64_t, int64_t, float*,
                                        float*, float*);
template void layer_norm_forward<double>(const double*, const double*, const double*, double, int64_t, int64_t, double*,
                                         double*, double*);
template void layer_norm_backward<float>(const float*, const float*, const float*, const float*, const float*, int64_t,
                                         int64_t, float*, float*, float*);
template void layer_norm_backward<double>(const double*, const double*, const double*, const double*, const double*,
                                          int64_t, int64_t, double*, double*, double*);

}  // namespace hm::cpu::scalar
