// conformance: gemm
// Every variant of the `gemm` kernel table against the scalar reference, f32 and f64, on random shapes (1, odd,
// not a multiple of any vector width or block), all four transpose combinations, padded leading dimensions,
// several alpha/beta. Padding between rows of A, B and C is filled with NaN, and so is all of C when beta == 0:
// a kernel that reads outside its matrices, reads C when it must not, or leaves an element unwritten fails.
// The error bound is the standard one for a K-term dot product, |err| <= c * K * eps * (|alpha| |A||B| + |beta||C|),
// with the magnitudes computed by the reference on |A|, |B|, |C|.
#include <cmath>
#include <limits>

#include "cpu/gemm.h"
#include "ops/linear.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

template <class T>
std::vector<T> random_buffer(int64_t n, uint64_t seed) {
  Generator gen(seed);
  return randn({n}, dtype_of<T>::value, gen).template to_vector<T>();
}

template <class T>
constexpr T kNaN = std::numeric_limits<T>::quiet_NaN();

// A (rows, cols) matrix with leading dim ld = cols + pad: random values, NaN in the padding.
template <class T>
std::vector<T> padded_matrix(int64_t rows, int64_t cols, int64_t ld, uint64_t seed) {
  std::vector<T> v = random_buffer<T>(std::max<int64_t>(rows * ld, 1), seed);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = cols; c < ld; ++c) v[r * ld + c] = kNaN<T>;
  return v;
}

template <class T>
std::vector<T> abs_of(std::vector<T> v) {
  for (T& x : v) x = std::isnan(x) ? x : std::abs(x);
  return v;
}

struct GemmCase {
  int64_t M, N, K;
  bool ta, tb;
  int64_t pad;
  double alpha, beta;
};

std::vector<GemmCase> gemm_cases() {
  std::vector<GemmCase> cases;
  const int64_t sizes[] = {1, 2, 3, 7, 16, 17, 33, 65};
  const double alphas[] = {1.0, 0.5, -2.0}, betas[] = {0.0, 1.0, 0.25};
  Generator gen(7);
  for (int i = 0; i < 48; ++i) {
    GemmCase c;
    c.M = sizes[gen.next_below(8)], c.N = sizes[gen.next_below(8)], c.K = sizes[gen.next_below(8)];
    c.ta = (i & 1) != 0, c.tb = (i & 2) != 0;
    c.pad = (i & 4) ? 3 : 0;
    c.alpha = alphas[gen.next_below(3)], c.beta = betas[i % 3];
    cases.push_back(c);
  }
  cases.push_back({3, 4, 0, false, false, 1, 1.0, 0.0});  // empty sum: C = 0 (NaN must be overwritten)
  cases.push_back({3, 4, 0, true, true, 0, 1.0, 0.5});    // empty sum: C = beta * C
  cases.push_back({1, 1, 1, false, false, 0, 1.0, 0.0});
  cases.push_back({64, 96, 48, false, true, 0, 1.0, 0.0});  // multiples of the usual block sizes
  return cases;
}

template <class T>
void check_gemm_variant(cpu::GemmFn<T> fn, cpu::GemmFn<T> ref, const GemmCase& c, uint64_t seed) {
  SCOPED_TRACE(cat("M=", c.M, " N=", c.N, " K=", c.K, " ta=", c.ta, " tb=", c.tb, " pad=", c.pad, " alpha=", c.alpha,
                   " beta=", c.beta, " ", dtype_of<T>::value));
  const int64_t ra = c.ta ? c.K : c.M, ca = c.ta ? c.M : c.K, rb = c.tb ? c.N : c.K, cb = c.tb ? c.K : c.N;
  const int64_t lda = std::max<int64_t>(ca, 1) + c.pad, ldb = std::max<int64_t>(cb, 1) + c.pad, ldc = c.N + c.pad;
  const std::vector<T> A = padded_matrix<T>(ra, ca, lda, seed), B = padded_matrix<T>(rb, cb, ldb, seed + 1);
  std::vector<T> C0 = padded_matrix<T>(c.M, c.N, ldc, seed + 2);  // (M, ldc)
  if (c.beta == 0) std::fill(C0.begin(), C0.end(), kNaN<T>);      // write-only: poison everything
  std::vector<T> got = C0, want = C0;
  fn(c.ta, c.tb, c.M, c.N, c.K, T(c.alpha), A.data(), lda, B.data(), ldb, T(c.beta), got.data(), ldc);
  ref(c.ta, c.tb, c.M, c.N, c.K, T(c.alpha), A.data(), lda, B.data(), ldb, T(c.beta), want.data(), ldc);
  // Magnitude bound |alpha| |A||B| + |beta| |C| from the reference on absolute values.
  std::vector<T> mag = abs_of(C0);
  if (c.beta == 0) std::fill(mag.begin(), mag.end(), T(0));
  ref(c.ta, c.tb, c.M, c.N, c.K, T(std::abs(c.alpha)), abs_of(A).data(), lda, abs_of(B).data(), ldb,
      T(std::abs(c.beta)), mag.data(), ldc);
  const double eps = std::numeric_limits<T>::epsilon();
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      const int64_t k = i * ldc + j;
      if (j >= c.N) {  // padding of C: never written
        ASSERT_TRUE(std::isnan(got[k])) << "wrote into the padding of C at (" << i << ", " << j << ")";
        continue;
      }
      const double tol = 4.0 * double(c.K + 2) * eps * double(mag[k]) + 1e-30;
      ASSERT_TRUE(std::isfinite(double(got[k]))) << "element (" << i << ", " << j << ") is " << got[k];
      ASSERT_NEAR(double(got[k]), double(want[k]), tol) << "element (" << i << ", " << j << ")";
    }
}

TEST(GemmConformance, EveryVariantMatchesScalarReference) {
  const cpu::GemmKernels ref = gemm_table().get("scalar");
  check_all_variants(gemm_table(), [&](const std::string&, const cpu::GemmKernels& k) {
    uint64_t seed = 1000;
    for (const GemmCase& c : gemm_cases()) {
      check_gemm_variant<float>(k.f32, ref.f32, c, seed);
      check_gemm_variant<double>(k.f64, ref.f64, c, seed);
      seed += 3;
    }
    // Empty outputs: nothing to write, nothing may be touched.
    std::vector<float> untouched(4, kNaN<float>);
    k.f32(false, false, 0, 4, 3, 1.0f, nullptr, 3, nullptr, 4, 0.0f, untouched.data(), 4);
    k.f32(false, false, 4, 0, 3, 1.0f, nullptr, 3, nullptr, 1, 0.0f, untouched.data(), 1);
    for (float v : untouched) EXPECT_TRUE(std::isnan(v));
  });
}

TEST(GemmConformance, BatchedLoopAccumulatesSharedOutputs) {
  // conformance: gemm (batched form). Entries 0 and 2 write the same C block with beta = 1 (the gradient of a
  // broadcast operand); entry 1 reuses A's block 0 (a broadcast input).
  check_all_variants(gemm_table(), [&](const std::string&, const cpu::GemmKernels& k) {
    const int64_t M = 3, N = 5, K = 7;
    const std::vector<double> A = random_buffer<double>(2 * M * K, 1), B = random_buffer<double>(3 * K * N, 2);
    const int64_t a_off[] = {0, 0, M * K}, b_off[] = {0, K * N, 2 * K * N}, c_off[] = {0, M * N, 0};
    std::vector<double> got(2 * M * N, 0.0), want(2 * M * N, 0.0);
    cpu::gemm_batched(k.f64, 3, false, false, M, N, K, 1.0, A.data(), a_off, K, B.data(), b_off, N, 1.0, got.data(),
                      c_off, N);
    for (int e = 0; e < 3; ++e)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j)
          for (int64_t p = 0; p < K; ++p)
            want[c_off[e] + i * N + j] += A[a_off[e] + i * K + p] * B[b_off[e] + p * N + j];
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-12) << "element " << i;
  });
}

TEST(GemmConformance, ColumnSumMatchesDoubleSum) {
  for (int64_t R : {1, 3, 129, 300})
    for (int64_t N : {1, 5, 17}) {
      SCOPED_TRACE(cat("R=", R, " N=", N));
      const int64_t ldx = N + 2;
      const std::vector<float> X = padded_matrix<float>(R, N, ldx, uint64_t(R * 100 + N));
      std::vector<float> out(N, kNaN<float>);
      cpu::column_sum(X.data(), R, N, ldx, out.data());
      for (int64_t j = 0; j < N; ++j) {
        double s = 0, mag = 0;
        for (int64_t r = 0; r < R; ++r) s += X[r * ldx + j], mag += std::abs(X[r * ldx + j]);
        ASSERT_NEAR(out[j], s, 1e-6 * mag + 1e-6) << "column " << j;
      }
    }
}

TEST(GemmConformance, BadLeadingDimensionIsAnError) {
  std::vector<float> a(6), b(6), c(4);
  EXPECT_TRUE(throws_with(
      [&] { cpu::openblas::sgemm(false, false, 2, 2, 3, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2); },
      "sgemm: bad leading dimensions lda=2"));
}

}  // namespace
}  // namespace hm::test
