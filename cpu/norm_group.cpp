// Group norm on (B, C, L) (torch.nn.functional.group_norm; HuBERT's GroupNorm(512, 512) after the first conv).
// Each (b, g) is one "row" of C/G * L elements normalised with its own mean / rstd; weight and bias are per
// channel. Parallel over (b, g); the per-channel weight/bias gradients are reduced over b afterwards from per-(b,
// c) partial sums (the ds/db buffers of ATen's GroupNormKernel), so no two threads write the same element. The
// reductions are `omp simd` (vectorised, lane-wise partial sums), deterministic for a given build.
#include <cmath>
#include <vector>

#include "cpu/norm.h"
#include "cpu/parallel.h"

namespace hm::cpu {

template <class T>
void group_norm_forward(const T* x, const T* weight, const T* bias, T eps, int64_t B, int64_t C, int64_t L, int64_t G,
                        T* y, T* mean, T* rstd) {
  const int64_t cg = C / G;  // channels per group
  const int64_t n = cg * L;  // elements per (b, g)
  parallel_for(B * G, 4 * n, [&](int64_t begin, int64_t end) {
    for (int64_t bg = begin; bg < end; ++bg) {
      const int64_t g = bg % G;
      const T* xg = x + bg * n;  // (cg, L): groups are contiguous in (B, C, L)
      T* yg = y + bg * n;        // (cg, L)
      T sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < n; ++i) sum += xg[i];
      const T m = sum / T(n);
      T sq = 0;
#pragma omp simd reduction(+ : sq)
      for (int64_t i = 0; i < n; ++i) sq += (xg[i] - m) * (xg[i] - m);
      const T s = T(1) / std::sqrt(sq / T(n) + eps);
      for (int64_t j = 0; j < cg; ++j) {
        const int64_t c = g * cg + j;
        // y = xhat * w + b = x * (s * w) + (b - m * s * w): one FMA per element
        const T a = s * (weight ? weight[c] : T(1));
        const T shift = (bias ? bias[c] : T(0)) - m * a;
        for (int64_t l = 0; l < L; ++l) yg[j * L + l] = xg[j * L + l] * a + shift;
      }
      mean[bg] = m;
      rstd[bg] = s;
    }
  });
}

template <class T>
void group_norm_backward(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd, int64_t B, int64_t C,
                         int64_t L, int64_t G, T* dx, T* dweight, T* dbias) {
  const int64_t cg = C / G;
  const int64_t n = cg * L;
  std::vector<T> ds(size_t(B * C)), db(size_t(B * C));  // (B, C): sum_l dy * xhat, sum_l dy
  parallel_for(B * G, 8 * n, [&](int64_t begin, int64_t end) {
    for (int64_t bg = begin; bg < end; ++bg) {
      const int64_t b = bg / G, g = bg % G;
      const T* xg = x + bg * n;    // (cg, L)
      const T* dyg = dy + bg * n;  // (cg, L)
      const T m = mean[bg], s = rstd[bg];
      T sum_d = 0, sum_dxhat = 0;  // sum over the group of d = dy * w and of d * xhat
      for (int64_t j = 0; j < cg; ++j) {
        const int64_t c = g * cg + j;
        T dsum = 0, dxsum = 0;
#pragma omp simd reduction(+ : dsum, dxsum)
        for (int64_t l = 0; l < L; ++l) {
          dsum += dyg[j * L + l];
          dxsum += dyg[j * L + l] * (xg[j * L + l] - m) * s;
        }
        ds[size_t(b * C + c)] = dxsum;
        db[size_t(b * C + c)] = dsum;
        const T w = weight ? weight[c] : T(1);
        sum_d += w * dsum;
        sum_dxhat += w * dxsum;
      }
      if (!dx) continue;
      // dx = rstd * (d - mean(d) - xhat * mean(d * xhat)) over the group (as layer norm's row).
      const T dmean = sum_d / T(n), dxmean = sum_dxhat / T(n);
      T* dxg = dx + bg * n;  // (cg, L)
      for (int64_t j = 0; j < cg; ++j) {
        const T w = weight ? weight[g * cg + j] : T(1);
        for (int64_t l = 0; l < L; ++l) {
          const T xhat = (xg[j * L + l] - m) * s;
          dxg[j * L + l] = s * (dyg[j * L + l] * w - dmean - xhat * dxmean);
        }
      }
    }
  });
  // Reduce the partials over the batch in a fixed order (bit-identical for any thread count).
  for (int64_t c = 0; c < C; ++c) {
    T sw = 0, sb = 0;
    for (int64_t b = 0; b < B; ++b) {
      sw += ds[size_t(b * C + c)];
      sb += db[size_t(b * C + c)];
    }
    if (dweight) dweight[c] = sw;
    if (dbias) dbias[c] = sb;
  }
}

template void group_norm_forward<float>(const float*, const float*, const float*, float, int64_t, int64_t, int64_t,
                                        int64_t, float*, float*, float*);
template void group_norm_forward<double>(const double*, const double*, const double*, double, int64_t, int64_t, int64_t,
                                         int64_t, double*, double*, double*);
template void group_norm_backward<float>(const float*, const float*, const float*, const float*, const float*, int64_t,
                                         int64_t, int64_t, int64_t, float*, float*, float*);
template void group_norm_backward<double>(const double*, const double*, const double*, const double*, const double*,
                                          int64_t, int64_t, int64_t, int64_t, double*, double*, double*);

}  // namespace hm::cpu
