// Cosine similarity over row pairs (torch.nn.functional.cosine_similarity as HuBERT's logits use it:
// cos((T, 1, D), (1, C, D), dim=-1) / 0.1). The op layer reduces any broadcast to rows of A, rows of B and one
// (row of A, row of B) pair per output; here every row norm is computed once and each output is one dot product.
#include "cpu/cosine.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/parallel.h"

namespace hm::cpu {
namespace {

template <class T>
T dot(const T* a, const T* b, int64_t D) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t k = 0; k < D; ++k) s += a[k] * b[k];
  return s;
}

// Row-major C (M, N) = alpha * op(A) op(B) + beta * C through OpenBLAS.
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
          int64_t ldb, float beta, float* C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, blasint(M), blasint(N),
              blasint(K), alpha, A, blasint(lda), B, blasint(ldb), beta, C, blasint(ldc));
}
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
          const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, blasint(M), blasint(N),
              blasint(K), alpha, A, blasint(lda), B, blasint(ldb), beta, C, blasint(ldc));
}

// Group outputs by the row they touch (counting sort): outputs of row r are order[start[r] .. start[r + 1]).
void group_by_row(const int64_t* idx, int64_t O, int64_t R, std::vector<int64_t>& start, std::vector<int64_t>& order) {
  start.assign(size_t(R + 1), 0);
  for (int64_t o = 0; o < O; ++o) start[size_t(idx[o] + 1)]++;
  for (int64_t r = 0; r < R; ++r) start[size_t(r + 1)] += start[size_t(r)];
  order.resize(size_t(O));
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (int64_t o = 0; o < O; ++o) order[size_t(fill[size_t(idx[o])]++)] = o;
}

// dX[r] = sum_{o of row r} dy[o] * (Y[iy[o]] / (nx[r] * ny[iy[o]]) - y[o] * X[r] / nx[r]^2)
// X is the side whose gradient is computed, Y the partner side.
template <class T>
void cosine_side_backward(const T* dy, const T* y, const T* X, const T* nx, const T* Y, const T* ny, const int64_t* ix,
                          const int64_t* iy, int64_t O, int64_t R, int64_t D, T* dX) {
  std::vector<int64_t> start, order;
  group_by_row(ix, O, R, start, order);
  parallel_for(R, 2 * D * std::max<int64_t>(1, O / std::max<int64_t>(R, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      T* g = dX + r * D;  // (D)
      std::fill(g, g + D, T(0));
      T self = 0;  // sum_o dy[o] * y[o]: coefficient of -X[r] / nx^2
      for (int64_t k = start[size_t(r)]; k < start[size_t(r + 1)]; ++k) {
        const int64_t o = order[size_t(k)];
        const T* yr = Y + iy[o] * D;  // (D)
        const T c = dy[o] / (nx[r] * ny[iy[o]]);
        for (int64_t j = 0; j < D; ++j) g[j] += c * yr[j];
        self += dy[o] * y[o];
      }
      const T c = self / (nx[r] * nx[r]);
      const T* xr = X + r * D;  // (D)
      for (int64_t j = 0; j < D; ++j) g[j] -= c * xr[j];
    }
  });
}

}  // namespace

template <class T>
void row_norms(const T* A, int64_t R, int64_t D, T eps, T* norm) {
  parallel_for(R, 2 * D, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) norm[r] = std::max(std::sqrt(dot(A + r * D, A + r * D, D)), eps);
  });
}

template <class T>
void cosine_forward(const T* A, const T* norm_a, const T* B, const T* norm_b, const int64_t* ia, const int64_t* ib,
                    int64_t O, int64_t D, T* y) {
  parallel_for(O, 2 * D, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) y[o] = dot(A + ia[o] * D, B + ib[o] * D, D) / (norm_a[ia[o]] * norm_b[ib[o]]);
  });
}

template <class T>
void cosine_backward(const T* dy, const T* y, const T* A, const T* norm_a, const T* B, const T* norm_b,
                     const int64_t* ia, const int64_t* ib, int64_t O, int64_t Ra, int64_t Rb, int64_t D, T* dA, T* dB) {
  if (dA) cosine_side_backward(dy, y, A, norm_a, B, norm_b, ia, ib, O, Ra, D, dA);
  if (dB) cosine_side_backward(dy, y, B, norm_b, A, norm_a, ib, ia, O, Rb, D, dB);
}

template <class T>
void cosine_forward_outer(const T* A, const T* norm_a, const T* B, const T* norm_b, int64_t Ra, int64_t Rb, int64_t D,
                          T* y) {
  if (Ra == 0 || Rb == 0) return;
  if (D == 0) {
    std::fill(y, y + Ra * Rb, T(0));
    return;
  }
  // y = (A / na) (B / nb)^T: normalising the Ra + Rb rows first is cheaper than scaling Ra * Rb outputs, and keeps
  // the BLAS call free of OpenMP regions around it (whose idle spinning workers compete with OpenBLAS's threads).
  std::vector<T> an(size_t(Ra * D)), bn(size_t(Rb * D));  // (Ra, D), (Rb, D)
  for (int64_t i = 0; i < Ra; ++i)
    for (int64_t k = 0; k < D; ++k) an[size_t(i * D + k)] = A[i * D + k] / norm_a[i];
  for (int64_t j = 0; j < Rb; ++j)
    for (int64_t k = 0; k < D; ++k) bn[size_t(j * D + k)] = B[j * D + k] / norm_b[j];
  gemm(false, true, Ra, Rb, D, T(1), an.data(), D, bn.data(), D, T(0), y, Rb);
}

template <class T>
void cosine_backward_outer(const T* dy, const T* y, const T* A, const T* norm_a, const T* B, const T* norm_b,
                           int64_t Ra, int64_t Rb, int64_t D, T* dA, T* dB) {
  if (Ra == 0 || Rb == 0 || D == 0) {
    if (dA) std::fill(dA, dA + Ra * D, T(0));
    if (dB) std::fill(dB, dB + Rb * D, T(0));
    return;
  }
  std::vector<T> S(size_t(Ra * Rb));                            // (Ra, Rb) dy / (na nb^T)
  std::vector<T> row(size_t(Ra), T(0)), col(size_t(Rb), T(0));  // sums of dy * y over b, over a
  for (int64_t i = 0; i < Ra; ++i)
    for (int64_t j = 0; j < Rb; ++j) {
      S[size_t(i * Rb + j)] = dy[i * Rb + j] / (norm_a[i] * norm_b[j]);
      row[size_t(i)] += dy[i * Rb + j] * y[i * Rb + j];
      col[size_t(j)] += dy[i * Rb + j] * y[i * Rb + j];
    }
  // dX = S' Y - (sum / nx^2) X, with the diagonal term applied first and the GEMM accumulating onto it.
  auto side = [&](const T* X, const T* nx, const std::vector<T>& sums, int64_t R, const T* Y, int64_t Ry,
                  bool transpose_s, T* dX) {
    for (int64_t r = 0; r < R; ++r) {
      const T c = sums[size_t(r)] / (nx[r] * nx[r]);
      for (int64_t k = 0; k < D; ++k) dX[r * D + k] = -c * X[r * D + k];
    }
    gemm(transpose_s, false, R, D, Ry, T(1), S.data(), Rb, Y, D, T(1), dX, D);
  };
  if (dA) side(A, norm_a, row, Ra, B, Rb, false, dA);
  if (dB) side(B, norm_b, col, Rb, A, Ra, true, dB);
}

template void row_norms<float>(const float*, int64_t, int64_t, float, float*);
template void row_norms<double>(const double*, int64_t, int64_t, double, double*);
template void cosine_forward<float>(const float*, const float*, const float*, const float*, const int64_t*,
                                    const int64_t*, int64_t, int64_t, float*);
template void cosine_forward<double>(const double*, const double*, const double*, const double*, const int64_t*,
                                     const int64_t*, int64_t, int64_t, double*);
template void cosine_backward<float>(const float*, const float*, const float*, const float*, const float*, const float*,
                                     const int64_t*, const int64_t*, int64_t, int64_t, int64_t, int64_t, float*,
                                     float*);
template void cosine_backward<double>(const double*, const double*, const double*, const double*, const double*,
                                      const double*, const int64_t*, const int64_t*, int64_t, int64_t, int64_t, int64_t,
                                      double*, double*);

template void cosine_forward_outer<float>(const float*, const float*, const float*, const float*, int64_t, int64_t,
                                          int64_t, float*);
template void cosine_forward_outer<double>(const double*, const double*, const double*, const double*, int64_t, int64_t,
                                           int64_t, double*);
template void cosine_backward_outer<float>(const float*, const float*, const float*, const float*, const float*,
                                           const float*, int64_t, int64_t, int64_t, float*, float*);
template void cosine_backward_outer<double>(const double*, const double*, const double*, const double*, const double*,
                                            const double*, int64_t, int64_t, int64_t, double*, double*);

}  // namespace hm::cpu
