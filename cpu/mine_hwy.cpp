// Highway loops of the "blas" mine_dv variant and of the Adam step (cpu/mine.h): everything between the GEMMs.
// Rows are h wide (100 for the paper's network, not a multiple of any vector width), so every loop over a row
// runs whole vectors and finishes with a scalar tail.
// foreach_target.h re-includes this file once per target; highway.h must follow it.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/mine_hwy.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
// clang-format on

#include <algorithm>
#include <cmath>

#include "cpu/mine.h"

HWY_BEFORE_NAMESPACE();
namespace hm::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// h1[i] = relu(a[i] + b[i] + b1), h1[n + i] = relu(a[i] + b[perm[i]] + b1): joint and marginal rows of layer 1.
void Layer1Relu(const float* a, const float* b, const int64_t* perm, const float* b1, int64_t n, int64_t h, float* h1) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto zero = hn::Zero(d);
  for (int64_t i = 0; i < n; ++i) {
    const float *ai = a + i * h, *bi = b + i * h, *bp = b + perm[i] * h;
    float *jr = h1 + i * h, *mr = h1 + (n + i) * h;
    int64_t k = 0;
    for (; k + N <= h; k += N) {
      const auto ab = hn::Add(hn::LoadU(d, ai + k), hn::LoadU(d, b1 + k));
      hn::StoreU(hn::Max(hn::Add(ab, hn::LoadU(d, bi + k)), zero), d, jr + k);
      hn::StoreU(hn::Max(hn::Add(ab, hn::LoadU(d, bp + k)), zero), d, mr + k);
    }
    for (; k < h; ++k) {
      jr[k] = std::max(ai[k] + b1[k] + bi[k], 0.0f);
      mr[k] = std::max(ai[k] + b1[k] + bp[k], 0.0f);
    }
  }
}

// m (rows, cols) = relu(m + bias).
void BiasRelu(float* m, int64_t rows, int64_t cols, const float* bias) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto zero = hn::Zero(d);
  for (int64_t r = 0; r < rows; ++r) {
    float* row = m + r * cols;
    int64_t k = 0;
    for (; k + N <= cols; k += N)
      hn::StoreU(hn::Max(hn::Add(hn::LoadU(d, row + k), hn::LoadU(d, bias + k)), zero), d, row + k);
    for (; k < cols; ++k) row[k] = std::max(row[k] + bias[k], 0.0f);
  }
}

// Backward through the output layer and relu 2: h2[r, k] = h2[r, k] > 0 ? ds[r] * w3[k] : 0 (in place), and
// colsum[k] = sum_r of the result (db2).
void ReluOuterGrad(float* h2, const float* ds, const float* w3, int64_t rows, int64_t cols, float* colsum) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto zero = hn::Zero(d);
  std::fill(colsum, colsum + cols, 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    float* row = h2 + r * cols;
    const auto g = hn::Set(d, ds[r]);
    int64_t k = 0;
    for (; k + N <= cols; k += N) {
      const auto v = hn::IfThenElseZero(hn::Gt(hn::LoadU(d, row + k), zero), hn::Mul(g, hn::LoadU(d, w3 + k)));
      hn::StoreU(v, d, row + k);
      hn::StoreU(hn::Add(hn::LoadU(d, colsum + k), v), d, colsum + k);
    }
    for (; k < cols; ++k) {
      row[k] = row[k] > 0 ? ds[r] * w3[k] : 0.0f;
      colsum[k] += row[k];
    }
  }
}

// Backward through relu 1, folded onto the n rows of x and y: with dP = dh1 where h1 > 0 (joint rows 0..n-1,
// marginal rows n..2n-1), gx[i] = dP[i] + dP[n + i], gy[i] = dP[i] + sum over j with perm[j] = i of dP[n + j],
// colsum = sum_i gx[i] (db1). dh1's marginal rows are overwritten with their masked values.
void ReluMaskFold(float* dh1, const float* h1, const int64_t* perm, int64_t n, int64_t h, float* gx, float* gy,
                  float* colsum) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto zero = hn::Zero(d);
  std::fill(colsum, colsum + h, 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    const float *hj = h1 + i * h, *hm = h1 + (n + i) * h, *dj = dh1 + i * h;
    float* dm = dh1 + (n + i) * h;
    float *gxi = gx + i * h, *gyi = gy + i * h;
    int64_t k = 0;
    for (; k + N <= h; k += N) {
      const auto pj = hn::IfThenElseZero(hn::Gt(hn::LoadU(d, hj + k), zero), hn::LoadU(d, dj + k));
      const auto pm = hn::IfThenElseZero(hn::Gt(hn::LoadU(d, hm + k), zero), hn::LoadU(d, dm + k));
      const auto sx = hn::Add(pj, pm);
      hn::StoreU(pm, d, dm + k);
      hn::StoreU(sx, d, gxi + k);
      hn::StoreU(pj, d, gyi + k);
      hn::StoreU(hn::Add(hn::LoadU(d, colsum + k), sx), d, colsum + k);
    }
    for (; k < h; ++k) {
      const float pj = hj[k] > 0 ? dj[k] : 0.0f, pm = hm[k] > 0 ? dm[k] : 0.0f;
      dm[k] = pm;
      gxi[k] = pj + pm;
      gyi[k] = pj;
      colsum[k] += pj + pm;
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    float* dst = gy + perm[i] * h;
    const float* src = dh1 + (n + i) * h;
    int64_t k = 0;
    for (; k + N <= h; k += N) hn::StoreU(hn::Add(hn::LoadU(d, dst + k), hn::LoadU(d, src + k)), d, dst + k);
    for (; k < h; ++k) dst[k] += src[k];
  }
}

void AdamStep(float* w, const float* g, float* m, float* v, int64_t n, float beta1, float beta2, float eps,
              float step_size, float bc2_sqrt) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  const float a1 = 1.0f - beta1, a2 = 1.0f - beta2;
  const auto vb1 = hn::Set(d, beta1), vb2 = hn::Set(d, beta2), va1 = hn::Set(d, a1), va2 = hn::Set(d, a2);
  const auto veps = hn::Set(d, eps), vstep = hn::Set(d, step_size), vbc2 = hn::Set(d, bc2_sqrt);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto gi = hn::LoadU(d, g + i);
    const auto mi = hn::Add(hn::Mul(hn::LoadU(d, m + i), vb1), hn::Mul(gi, va1));
    const auto vi = hn::Add(hn::Mul(hn::LoadU(d, v + i), vb2), hn::Mul(hn::Mul(va2, gi), gi));
    const auto denom = hn::Add(hn::Div(hn::Sqrt(vi), vbc2), veps);
    hn::StoreU(mi, d, m + i);
    hn::StoreU(vi, d, v + i);
    hn::StoreU(hn::Sub(hn::LoadU(d, w + i), hn::Mul(vstep, hn::Div(mi, denom))), d, w + i);
  }
  for (; i < n; ++i) {
    m[i] = m[i] * beta1 + g[i] * a1;
    v[i] = v[i] * beta2 + a2 * g[i] * g[i];
    const float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
    w[i] -= step_size * (m[i] / denom);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace hm::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hm::cpu {
HWY_EXPORT(Layer1Relu);
HWY_EXPORT(BiasRelu);
HWY_EXPORT(ReluOuterGrad);
HWY_EXPORT(ReluMaskFold);
HWY_EXPORT(AdamStep);

namespace mine_simd {
void layer1_relu(const float* a, const float* b, const int64_t* perm, const float* b1, int64_t n, int64_t h,
                 float* h1) {
  HWY_DYNAMIC_DISPATCH(Layer1Relu)(a, b, perm, b1, n, h, h1);
}
void bias_relu(float* m, int64_t rows, int64_t cols, const float* bias) {
  HWY_DYNAMIC_DISPATCH(BiasRelu)(m, rows, cols, bias);
}
void relu_outer_grad(float* h2, const float* ds, const float* w3, int64_t rows, int64_t cols, float* colsum) {
  HWY_DYNAMIC_DISPATCH(ReluOuterGrad)(h2, ds, w3, rows, cols, colsum);
}
void relu_mask_fold(float* dh1, const float* h1, const int64_t* perm, int64_t n, int64_t h, float* gx, float* gy,
                    float* colsum) {
  HWY_DYNAMIC_DISPATCH(ReluMaskFold)(dh1, h1, perm, n, h, gx, gy, colsum);
}
}  // namespace mine_simd

void adam_step_f32(float* w, const float* g, float* m, float* v, int64_t n, float beta1, float beta2, float eps,
                   float step_size, float bias_correction2_sqrt) {
  HWY_DYNAMIC_DISPATCH(AdamStep)(w, g, m, v, n, beta1, beta2, eps, step_size, bias_correction2_sqrt);
}
}  // namespace hm::cpu
#endif  // HWY_ONCE
