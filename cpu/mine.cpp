#include "cpu/mine.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
}

namespace hm::cpu {

SerialBlasScope::SerialBlasScope() : active_(!omp_in_parallel()), saved_(active_ ? openblas_get_num_threads() : 1) {
  if (active_ && saved_ != 1) openblas_set_num_threads(1);
}
SerialBlasScope::~SerialBlasScope() {
  if (active_ && saved_ != 1) openblas_set_num_threads(saved_);
}

namespace {

// bound = mean(joint scores) - (logsumexp(marginal scores) - log n), in double with the max subtracted
// (torch.logsumexp). Also returns the logsumexp for the softmax of the backward pass.
double dv_from_scores(const float* sc, int64_t n, double* lse_out) {
  double joint = 0, mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) joint += sc[i], mx = std::max(mx, double(sc[n + i]));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(sc[n + i]) - mx);
  const double lse = mx + std::log(sum);
  *lse_out = lse;
  return joint / double(n) - (lse - std::log(double(n)));
}

// d(-bound)/d score: -1/n on each joint row, +softmax(marginal scores) on each marginal row.
double loss_grad_of_score(int64_t r, int64_t n, double score, double lse) {
  return r < n ? -1.0 / double(n) : std::exp(score - lse);
}

}  // namespace

int64_t mine_workspace_floats(const MineShape& s) { return 8 * s.n * s.h + 2 * s.n; }

double mine_dv_scalar(const MineShape& s, const MineParams<const float*>& p, const float* x, const float* y,
                      const int64_t* perm, const MineParams<float*>* grad, float* work) {
  const int64_t n = s.n, dx = s.dx, dy = s.dy, h = s.h, d = dx + dy;
  float* h1 = work;            // (2n, h) relu(W1 [x; y] + b1): joint rows 0..n-1, marginal rows n..2n-1
  float* h2 = h1 + 2 * n * h;  // (2n, h) relu(W2 h1 + b2)
  float* sc = h2 + 2 * n * h;  // (2n) psi
  auto y_row = [&](int64_t r) { return y + (r < n ? r : perm[r - n]) * dy; };
  for (int64_t r = 0; r < 2 * n; ++r) {
    const float* xr = x + (r % n) * dx;
    const float* yr = y_row(r);
    for (int64_t k = 0; k < h; ++k) {
      double acc = p.b1[k];
      for (int64_t j = 0; j < dx; ++j) acc += double(p.w1[k * d + j]) * xr[j];
      for (int64_t j = 0; j < dy; ++j) acc += double(p.w1[k * d + dx + j]) * yr[j];
      h1[r * h + k] = float(std::max(acc, 0.0));
    }
    for (int64_t k = 0; k < h; ++k) {
      double acc = p.b2[k];
      for (int64_t j = 0; j < h; ++j) acc += double(p.w2[k * h + j]) * h1[r * h + j];
      h2[r * h + k] = float(std::max(acc, 0.0));
    }
    double acc = p.b3[0];
    for (int64_t k = 0; k < h; ++k) acc += double(p.w3[k]) * h2[r * h + k];
    sc[r] = float(acc);
  }
  double lse = 0;
  const double bound = dv_from_scores(sc, n, &lse);
  if (!grad) return bound;

  // Backward of loss = -bound row by row, accumulated in double.
  std::vector<double> gw1(size_t(h * d), 0.0), gb1(size_t(h), 0.0), gw2(size_t(h * h), 0.0), gb2(size_t(h), 0.0),
      gw3(size_t(h), 0.0), dp2(size_t(h), 0.0), dp1(size_t(h), 0.0);
  double gb3 = 0;
  for (int64_t r = 0; r < 2 * n; ++r) {
    const double g = loss_grad_of_score(r, n, sc[r], lse);
    const float* xr = x + (r % n) * dx;
    const float* yr = y_row(r);
    gb3 += g;
    for (int64_t k = 0; k < h; ++k) {
      gw3[size_t(k)] += g * h2[r * h + k];
      dp2[size_t(k)] = h2[r * h + k] > 0 ? g * p.w3[k] : 0.0;  // relu backward: where the output is > 0
      gb2[size_t(k)] += dp2[size_t(k)];
      for (int64_t j = 0; j < h; ++j) gw2[size_t(k * h + j)] += dp2[size_t(k)] * h1[r * h + j];
    }
    for (int64_t j = 0; j < h; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < h; ++k) acc += dp2[size_t(k)] * p.w2[k * h + j];
      dp1[size_t(j)] = h1[r * h + j] > 0 ? acc : 0.0;
    }
    for (int64_t k = 0; k < h; ++k) {
      gb1[size_t(k)] += dp1[size_t(k)];
      for (int64_t j = 0; j < dx; ++j) gw1[size_t(k * d + j)] += dp1[size_t(k)] * xr[j];
      for (int64_t j = 0; j < dy; ++j) gw1[size_t(k * d + dx + j)] += dp1[size_t(k)] * yr[j];
    }
  }
  std::copy(gw1.begin(), gw1.end(), grad->w1);
  std::copy(gb1.begin(), gb1.end(), grad->b1);
  std::copy(gw2.begin(), gw2.end(), grad->w2);
  std::copy(gb2.begin(), gb2.end(), grad->b2);
  std::copy(gw3.begin(), gw3.end(), grad->w3);
  grad->b3[0] = float(gb3);
  return bound;
}

double mine_dv_blas(const MineShape& s, const MineParams<const float*>& p, const float* x, const float* y,
                    const int64_t* perm, const MineParams<float*>* grad, float* work) {
  const int n = int(s.n), dx = int(s.dx), dy = int(s.dy), h = int(s.h), d = dx + dy;
  const int64_t nh = int64_t(n) * h;
  float* a = work;           // (n, h)  x W1x^T; in backward G_x = dPre1_joint + dPre1_marg
  float* b = a + nh;         // (n, h)  y W1y^T; in backward G_y = dPre1_joint + P^T dPre1_marg
  float* h1 = b + nh;        // (2n, h) relu(layer 1): joint rows, then marginal rows
  float* h2 = h1 + 2 * nh;   // (2n, h) relu(layer 2); in backward dPre2
  float* dh1 = h2 + 2 * nh;  // (2n, h) dLoss/dh1, then dPre1
  float* sc = dh1 + 2 * nh;  // (2n) scores; in backward dLoss/dscore

  // Layer 1, joint and marginal: Pre1_joint_i = a_i + b_i + b1, Pre1_marg_i = a_i + b_perm[i] + b1.
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, h, dx, 1.0f, x, dx, p.w1, d, 0.0f, a, h);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, h, dy, 1.0f, y, dy, p.w1 + dx, d, 0.0f, b, h);
  mine_simd::layer1_relu(a, b, perm, p.b1, n, h, h1);
  // Layer 2 and the output layer on all 2n rows.
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 2 * n, h, h, 1.0f, h1, h, p.w2, h, 0.0f, h2, h);
  mine_simd::bias_relu(h2, 2 * n, h, p.b2);
  cblas_sgemv(CblasRowMajor, CblasNoTrans, 2 * n, h, 1.0f, h2, h, p.w3, 1, 0.0f, sc, 1);
  for (int64_t r = 0; r < 2 * n; ++r) sc[r] += p.b3[0];
  double lse = 0;
  const double bound = dv_from_scores(sc, n, &lse);
  if (!grad) return bound;

  // Output layer: dscore, db3 = sum dscore, dw3 = h2^T dscore.
  double gb3 = 0;
  for (int64_t r = 0; r < 2 * n; ++r) sc[r] = float(loss_grad_of_score(r, n, sc[r], lse)), gb3 += sc[r];
  grad->b3[0] = float(gb3);
  cblas_sgemv(CblasRowMajor, CblasTrans, 2 * n, h, 1.0f, h2, h, sc, 1, 0.0f, grad->w3, 1);
  // Layer 2: dPre2 = dscore w3^T where h2 > 0 (in place); dW2 = dPre2^T h1, db2 = colsum, dh1 = dPre2 W2.
  mine_simd::relu_outer_grad(h2, sc, p.w3, 2 * n, h, grad->b2);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, h, h, 2 * n, 1.0f, h2, h, h1, h, 0.0f, grad->w2, h);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2 * n, h, h, 1.0f, h2, h, p.w2, h, 0.0f, dh1, h);
  // Layer 1: dPre1 = dh1 where h1 > 0, folded back onto the n rows of x and of y.
  mine_simd::relu_mask_fold(dh1, h1, perm, n, h, a, b, grad->b1);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, h, dx, n, 1.0f, a, h, x, dx, 0.0f, grad->w1, d);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, h, dy, n, 1.0f, b, h, y, dy, 0.0f, grad->w1 + dx, d);
  return bound;
}

}  // namespace hm::cpu
