#include "cpu/gemm.h"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <vector>

#include "cpu/parallel.h"
#include "engine/error.h"

namespace hm::cpu {
namespace {

// C = beta * C for the degenerate K == 0 product (alpha * op(A) @ op(B) is an empty sum). beta == 0 writes zeros
// without reading C, as BLAS does.
template <class T>
void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
}

// cblas takes 32-bit ints (Debian's OpenBLAS uses the LP64 interface) and validates leading dimensions by
// printing to stderr; check both here so a bad call becomes an hm::Error naming the sizes.
void check_blas_args(const char* fn, bool ta, bool tb, int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb,
                     int64_t ldc) {
  const int64_t need_a = std::max<int64_t>(1, ta ? M : K), need_b = std::max<int64_t>(1, tb ? K : N);
  check(lda >= need_a && ldb >= need_b && ldc >= std::max<int64_t>(1, N), fn, ": bad leading dimensions lda=", lda,
        " ldb=", ldb, " ldc=", ldc, " for M=", M, " N=", N, " K=", K, " trans_a=", ta, " trans_b=", tb);
  for (int64_t v : {M, N, K, lda, ldb, ldc})
    check(v <= INT_MAX, fn, ": size ", v, " exceeds the 32-bit BLAS interface (M=", M, " N=", N, " K=", K, ")");
}

}  // namespace

namespace scalar {

// C[i][j] = alpha * sum_p opA[i][p] * opB[p][j] + beta * C[i][j]   (the definition in the BLAS reference
// dgemm.f, row-major).
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < K; ++p) {
        const T a = trans_a ? A[p * lda + i] : A[i * lda + p];
        const T b = trans_b ? B[j * ldb + p] : B[p * ldb + j];
        acc += double(a) * double(b);
      }
      T& c = C[i * ldc + j];
      c = beta == T(0) ? T(alpha * acc) : T(alpha * acc + double(beta) * double(c));
    }
  }
}
template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);

}  // namespace scalar

namespace openblas {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_c(M, N, beta, C, ldc);
  check_blas_args("sgemm", trans_a, trans_b, M, N, K, lda, ldb, ldc);
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, int(M), int(N),
              int(K), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}

void dgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
           const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_c(M, N, beta, C, ldc);
  check_blas_args("dgemm", trans_a, trans_b, M, N, K, lda, ldb, ldc);
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, int(M), int(N),
              int(K), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}

}  // namespace openblas

template <class T>
void gemm_batched(GemmFn<T> gemm, int64_t batch, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha,
                  const T* A, const int64_t* a_off, int64_t lda, const T* B, const int64_t* b_off, int64_t ldb, T beta,
                  T* C, const int64_t* c_off, int64_t ldc) {
  // Sequential on purpose: each call already uses every BLAS thread, and a fixed order keeps accumulation into
  // shared C offsets deterministic.
  for (int64_t i = 0; i < batch; ++i)
    gemm(trans_a, trans_b, M, N, K, alpha, A + a_off[i], lda, B + b_off[i], ldb, beta, C + c_off[i], ldc);
}
template void gemm_batched<float>(GemmFn<float>, int64_t, bool, bool, int64_t, int64_t, int64_t, float, const float*,
                                  const int64_t*, int64_t, const float*, const int64_t*, int64_t, float, float*,
                                  const int64_t*, int64_t);
template void gemm_batched<double>(GemmFn<double>, int64_t, bool, bool, int64_t, int64_t, int64_t, double,
                                   const double*, const int64_t*, int64_t, const double*, const int64_t*, int64_t,
                                   double, double*, const int64_t*, int64_t);

// out[j] = sum_r X[r][j]. Rows are summed in blocks of kRowBlock into a local partial sum first, which bounds the
// rounding error growth for long R (the sum is pairwise at the block level); columns are split across threads so
// that the inner loop stays contiguous and vectorises.
template <class T>
void column_sum(const T* X, int64_t R, int64_t N, int64_t ldx, T* out) {
  constexpr int64_t kRowBlock = 128;
  parallel_for(N, R, [&](int64_t j0, int64_t j1) {
    std::vector<T> partial(size_t(j1 - j0));  // (j1 - j0,)
    std::fill(out + j0, out + j1, T(0));
    for (int64_t r0 = 0; r0 < R; r0 += kRowBlock) {
      std::fill(partial.begin(), partial.end(), T(0));
      const int64_t r1 = std::min(R, r0 + kRowBlock);
      for (int64_t r = r0; r < r1; ++r) {
        const T* row = X + r * ldx + j0;
        for (int64_t j = 0; j < j1 - j0; ++j) partial[j] += row[j];
      }
      for (int64_t j = 0; j < j1 - j0; ++j) out[j0 + j] += partial[j];
    }
  });
}
template void column_sum<float>(const float*, int64_t, int64_t, int64_t, float*);
template void column_sum<double>(const double*, int64_t, int64_t, int64_t, double*);

}  // namespace hm::cpu
