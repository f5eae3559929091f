// The CPU tables behind the index ops and cosine similarity (ops/shape.h, ops/similarity.h), whose "scalar"
// variants are the references the CUDA variants are checked against (tests/test_cuda_linalg.cpp). Every CPU variant
// is checked here against the defining formulas, written out per element.
//   conformance: index
//   conformance: index_add
//   conformance: cosine_similarity
#include <cmath>

#include "ops/shape.h"
#include "ops/similarity.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

std::vector<int64_t> draws(int64_t n, int64_t bound, uint64_t seed) {
  Generator gen(seed);
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t& x : v) x = int64_t(gen.next_below(uint64_t(bound)));
  return v;
}

std::vector<double> normals(int64_t n, uint64_t seed) {
  Generator gen(seed);
  return randn({n}, DType::f64, gen).to_vector<double>();
}

TEST(IndexConformance, ForwardKernelsFollowTheDefinitions) {
  check_all_variants(index_table(), [&](const std::string&, const IndexKernels& k) {
    // select_rows on doubles (8 bytes) and on floats (4 bytes): out[o][j][c] = src[o][index[j]][c].
    const int64_t outer = 3, N = 5, inner = 7, n = 9;
    const std::vector<double> src = normals(outer * N * inner, 1);
    const std::vector<int64_t> index = draws(n, N, 2);
    std::vector<double> out(static_cast<size_t>(outer * n * inner));
    k.select_rows(src.data(), 8, outer, N, inner, index.data(), n, out.data());
    std::vector<float> src32(src.begin(), src.end()), out32(out.size());
    k.select_rows(src32.data(), 4, outer, N, inner, index.data(), n, out32.data());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < n; ++j)
        for (int64_t c = 0; c < inner; ++c) {
          const size_t at = size_t((o * n + j) * inner + c), from = size_t((o * N + index[size_t(j)]) * inner + c);
          ASSERT_EQ(out[at], src[from]) << o << "," << j << "," << c;
          ASSERT_EQ(out32[at], src32[from]) << o << "," << j << "," << c;
        }
    // gather_dim along dim 1 of a (2, 4, 3) source read through the strides of its transpose.
    const Tensor t = from_doubles(normals(24, 3), {3, 4, 2}, DType::f64).transpose(0, 2);  // (2, 4, 3)
    const Shape is = {2, 6, 3};
    const std::vector<int64_t> gi = draws(shape_numel(is), 4, 4);
    std::vector<double> g(static_cast<size_t>(shape_numel(is)));
    k.gather_dim(t.raw_data(), 8, t.strides().data(), gi.data(), is.data(), 3, 1, g.data());
    for (int64_t a = 0; a < 2; ++a)
      for (int64_t b = 0; b < 6; ++b)
        for (int64_t c = 0; c < 3; ++c) {
          const size_t i = size_t((a * 6 + b) * 3 + c);
          ASSERT_EQ(g[i], t.select(0, a).select(0, gi[i]).select(0, c).item()) << a << "," << b << "," << c;
        }
    const std::vector<int64_t> bad = {0, 3, -1, 7};
    EXPECT_EQ(k.first_out_of_range(bad.data(), 4, 4), 2);
    EXPECT_EQ(k.first_out_of_range(bad.data(), 2, 4), -1);
  });
}

TEST(IndexConformance, ScatterAddsAccumulateRepeatedIndices) {
  check_all_variants(index_add_table(), [&](const std::string&, const IndexAddKernels& k) {
    const int64_t outer = 2, N = 3, inner = 4, n = 8;  // 8 draws from 3 rows: repeats
    const std::vector<int64_t> index = draws(n, N, 5);
    const std::vector<double> grad_out = normals(outer * n * inner, 6);
    std::vector<double> got(size_t(outer * N * inner), 1.0), want = got;  // accumulates onto ones
    k.f64.add_rows(got.data(), outer, N, inner, index.data(), n, grad_out.data());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < n; ++j)
        for (int64_t c = 0; c < inner; ++c)
          want[size_t((o * N + index[size_t(j)]) * inner + c)] += grad_out[size_t((o * n + j) * inner + c)];
    for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-12) << "add_rows element " << i;
    // scatter_add along dim 0 of a (3, 2) destination from a (5, 2) index.
    const Shape ds = {3, 2}, is = {5, 2};
    const std::vector<int64_t> si = draws(10, 3, 7);
    const std::vector<float> src = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    std::vector<float> dst(6, 0.0f), ref(6, 0.0f);
    k.f32.scatter_add(dst.data(), contiguous_strides(ds).data(), si.data(), is.data(), 2, 0, src.data());
    for (int64_t r = 0; r < 5; ++r)
      for (int64_t c = 0; c < 2; ++c) ref[size_t(si[size_t(r * 2 + c)] * 2 + c)] += src[size_t(r * 2 + c)];
    EXPECT_EQ(dst, ref);
  });
}

TEST(CosineConformance, KernelsFollowTheDefinitionAndTheOuterLayoutAgreesWithPairs) {
  check_all_variants(cosine_table(), [&](const std::string&, const CosineKernels& k) {
    const int64_t Ra = 4, Rb = 3, D = 5, O = Ra * Rb;
    std::vector<double> A = normals(Ra * D, 8), B = normals(Rb * D, 9);
    std::fill(A.begin() + D, A.begin() + 2 * D, 0.0);  // row 1 of A is zero: its norm is clamped to eps
    const double eps = 1e-8;
    std::vector<double> na(Ra), nb(Rb);
    k.f64.row_norms(A.data(), Ra, D, eps, na.data());
    k.f64.row_norms(B.data(), Rb, D, eps, nb.data());
    for (int64_t r = 0; r < Ra; ++r) {
      double s = 0;
      for (int64_t c = 0; c < D; ++c) s += A[size_t(r * D + c)] * A[size_t(r * D + c)];
      ASSERT_NEAR(na[size_t(r)], std::max(std::sqrt(s), eps), 1e-14) << "norm of row " << r;
    }
    // Every pair in row-major order, through both layouts.
    std::vector<int64_t> ia(static_cast<size_t>(O)), ib(ia.size());
    for (int64_t o = 0; o < O; ++o) ia[size_t(o)] = o / Rb, ib[size_t(o)] = o % Rb;
    std::vector<double> y(static_cast<size_t>(O)), yo(static_cast<size_t>(O));
    k.f64.forward(A.data(), na.data(), B.data(), nb.data(), ia.data(), ib.data(), O, D, y.data());
    k.f64.forward_outer(A.data(), na.data(), B.data(), nb.data(), Ra, Rb, D, yo.data());
    for (int64_t o = 0; o < O; ++o) {
      double s = 0;
      for (int64_t c = 0; c < D; ++c) s += A[size_t(ia[size_t(o)] * D + c)] * B[size_t(ib[size_t(o)] * D + c)];
      const double want = s / (na[size_t(ia[size_t(o)])] * nb[size_t(ib[size_t(o)])]);
      ASSERT_NEAR(y[size_t(o)], want, 1e-14) << "pair " << o;
      ASSERT_NEAR(yo[size_t(o)], want, 1e-14) << "outer " << o;
    }
    const std::vector<double> dy = normals(O, 10);
    std::vector<double> dA(static_cast<size_t>(Ra * D)), dB(static_cast<size_t>(Rb * D)), dAo(dA.size()),
        dBo(dB.size());
    k.f64.backward(dy.data(), y.data(), A.data(), na.data(), B.data(), nb.data(), ia.data(), ib.data(), O, Ra, Rb, D,
                   dA.data(), dB.data());
    k.f64.backward_outer(dy.data(), y.data(), A.data(), na.data(), B.data(), nb.data(), Ra, Rb, D, dAo.data(),
                         dBo.data());
    // dA[r] = sum_o dy[o] (B[ib] / (na nb) - y[o] A[r] / na^2)
    for (int64_t r = 0; r < Ra; ++r)
      for (int64_t c = 0; c < D; ++c) {
        double want = 0;
        for (int64_t o = 0; o < O; ++o)
          if (ia[size_t(o)] == r)
            want += dy[size_t(o)] * (B[size_t(ib[size_t(o)] * D + c)] / (na[size_t(r)] * nb[size_t(ib[size_t(o)])]) -
                                     y[size_t(o)] * A[size_t(r * D + c)] / (na[size_t(r)] * na[size_t(r)]));
        const size_t i = size_t(r * D + c);
        ASSERT_NEAR(dA[i], want, 1e-12 * (1 + std::abs(want))) << "dA " << r << "," << c;
        ASSERT_NEAR(dAo[i], want, 1e-12 * (1 + std::abs(want))) << "dA (outer) " << r << "," << c;
      }
    for (size_t i = 0; i < dB.size(); ++i) ASSERT_NEAR(dBo[i], dB[i], 1e-12 * (1 + std::abs(dB[i]))) << "dB " << i;
  });
}

}  // namespace
}  // namespace hm::test
