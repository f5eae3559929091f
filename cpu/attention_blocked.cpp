// Fast CPU attention: per (b, h) in parallel, blocks of query rows, OpenBLAS GEMMs for the five products and
// Highway rows (cpu/attention_rows.cpp) for softmax, its gradient and the dropout mask.
//
// Forward, per (b, h) and query block Qb (nr rows):            (formulas: cpu/attention.h)
//   S = scale * Qb K^T       (nr, nc)  sgemm
//   P = softmax(S + mask)    (nr, nc)  row kernel, lse saved  (B, H, Tq)
//   P *= keep / (1 - p)                dropout factors regenerated from Philox
//   Ob = P V                 (nr, Dh)  sgemm
// Backward recomputes P block by block from the saved lse (one extra Qb K^T GEMM + exp per block) instead of
// storing the (B, H, Tq, Tk) probabilities. Measured at B=8 H=12 T=400 Dh=64, f32, 1 thread (bench/RESULTS.md,
// "attention"): storing P saved ~10% of forward+backward CPU time (130 vs 143 ms) when its 61 MB buffer was
// reused across steps, and lost ~8% (153 vs 141 ms) when freshly allocated each step (page faults). P costs
// B*H*Tq*Tk*4 bytes per layer (61 MB here, ~740 MB for a 12-layer encoder, quadratic in T), the recompute a
// bounded ~10%, so we recompute.
// Backward, per (b, h) and query block:
//   S = scale * Qb K^T; P = exp(S + mask - lse)   D = rowsum(dOb * Ob)   (= rowsum(dP * P): flash-attention's
//   dV += Pd^T dOb           (nc, Dh)             trick, valid with dropout since Ob = Pd V)
//   dP = (dOb V^T) * keep    (nr, nc)
//   dS = P * (dP - D)        (nr, nc)
//   dQb = scale * dS K       (nr, Dh)
//   dK += scale * dS^T Qb    (nc, Dh)
// With a causal mask, block rows [i0, i0 + nr) only see keys [0, min(i0 + nr, Tk)), so nc shrinks and the GEMMs
// skip the masked upper triangle in whole-block steps.
//
// Threads: with at least as many (b, h) pairs as threads, each thread owns whole heads (no write sharing: dK and
// dV of a head are accumulated by one thread) and OpenBLAS runs single-threaded inside; otherwise heads run one
// after another and OpenBLAS uses the threads.
#include <cblas.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "cpu/attention.h"
#include "cpu/parallel.h"

extern "C" int openblas_get_num_threads(void);
extern "C" void openblas_set_num_threads(int num_threads);

namespace hm::cpu::blocked {
namespace {

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, int(M), int(N), int(K), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
          int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, int(M), int(N), int(K), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}
float dot(int64_t n, const float* a, const float* b) { return cblas_sdot(int(n), a, 1, b, 1); }
double dot(int64_t n, const double* a, const double* b) { return cblas_ddot(int(n), a, 1, b, 1); }

// Query rows per block: the (rows, Tk) score block should stay in L2 next to K and V. 128 KB measured best (by a
// few %) among 32 KB .. whole-matrix at T = 400, Dh = 64. At least 16 rows so the GEMMs are not degenerate.
template <class T>
int64_t block_rows(int64_t Tq, int64_t Tk) {
  constexpr int64_t kBlockBytes = 128 * 1024;
  const int64_t rows = std::max<int64_t>(kBlockBytes / int64_t(sizeof(T)) / std::max<int64_t>(Tk, 1), 16);
  return std::min(rows, std::max<int64_t>(Tq, 1));
}

// OpenBLAS single-threaded for a scope (each of our threads runs its own GEMMs), restored on exit.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas() : saved_(openblas_get_num_threads()) { openblas_set_num_threads(1); }
  ~SingleThreadedBlas() { openblas_set_num_threads(saved_); }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int saved_;
};

// Run f(bh0, bh1) over all (b, h) pairs: parallel over heads with single-threaded BLAS, or serial heads with
// threaded BLAS when there are fewer heads than threads.
template <class F>
void for_each_head(int64_t heads, int64_t cost_per_head, F&& f) {
  if (heads < num_threads()) {
    f(int64_t(0), heads);
    return;
  }
  SingleThreadedBlas guard;
  parallel_for(heads, cost_per_head, f);
}

// Additive key-padding row: 0 for a real key, -inf for a padded one.
template <class T>
void padding_bias(const uint8_t* pad, int64_t Tk, T* bias) {
  for (int64_t j = 0; j < Tk; ++j) bias[j] = pad[j] ? -std::numeric_limits<T>::infinity() : T(0);
}

// Number of keys query row i may see under the causal mask (top-left aligned; cpu/attention.h).
inline int64_t visible_keys(const AttentionDims& d, int64_t i) { return d.causal ? std::min(i + 1, d.Tk) : d.Tk; }

}  // namespace

template <class T>
void attention_forward(const AttentionDims& d, const T* q, const T* k, const T* v, const uint8_t* key_padding, T* out,
                       T* lse) {
  const int64_t Tq = d.Tq, Tk = d.Tk, Dh = d.Dh;
  const int64_t rows = block_rows<T>(Tq, Tk);
  const bool dropout = d.dropout_p > 0;
  const uint32_t threshold = dropout_threshold(d.dropout_p);
  const T keep_scale = T(1.0 / (1.0 - d.dropout_p));
  for_each_head(d.B * d.H, 4 * Tq * Tk * Dh, [&](int64_t bh0, int64_t bh1) {
    std::vector<T> S(size_t(rows * Tk));                        // (rows, nc) score / probability block
    std::vector<T> bias(key_padding ? size_t(Tk) : 0);          // (Tk)
    std::vector<T> keep(dropout ? size_t(Tk) : 0);              // (Tk) dropout factors of one row
    std::vector<uint32_t> words(dropout ? size_t(Tk + 8) : 0);  // Philox words of one row
    for (int64_t bh = bh0; bh < bh1; ++bh) {
      if (key_padding) padding_bias(key_padding + (bh / d.H) * Tk, Tk, bias.data());
      const T* qb = q + bh * Tq * Dh;  // (Tq, Dh)
      const T* kb = k + bh * Tk * Dh;  // (Tk, Dh)
      const T* vb = v + bh * Tk * Dh;  // (Tk, Dh)
      T* ob = out + bh * Tq * Dh;      // (Tq, Dh)
      for (int64_t i0 = 0; i0 < Tq; i0 += rows) {
        const int64_t nr = std::min(rows, Tq - i0);
        const int64_t nc = d.causal ? std::min(i0 + nr, Tk) : Tk;
        gemm(CblasNoTrans, CblasTrans, nr, nc, Dh, T(d.scale), qb + i0 * Dh, Dh, kb, Dh, T(0), S.data(), nc);
        for (int64_t r = 0; r < nr; ++r) {
          const int64_t i = i0 + r, nv = visible_keys(d, i);
          T* s = S.data() + r * nc;
          lse[bh * Tq + i] = rows::softmax(s, key_padding ? bias.data() : nullptr, nv, nc);
          if (dropout) {
            rows::dropout_keep(d.seed, d.offset, uint64_t((bh * Tq + i) * Tk), nv, threshold, keep_scale, words.data(),
                               keep.data());
            rows::mul(s, s, keep.data(), nv);
          }
        }
        gemm(CblasNoTrans, CblasNoTrans, nr, Dh, nc, T(1), S.data(), nc, vb, Dh, T(0), ob + i0 * Dh, Dh);
      }
    }
  });
}

template <class T>
void attention_backward(const AttentionDims& d, const T* q, const T* k, const T* v, const uint8_t* key_padding,
                        const T* out, const T* lse, const T* dout, T* dq, T* dk, T* dv) {
  const int64_t Tq = d.Tq, Tk = d.Tk, Dh = d.Dh;
  const int64_t rows = block_rows<T>(Tq, Tk);
  const bool dropout = d.dropout_p > 0;
  const uint32_t threshold = dropout_threshold(d.dropout_p);
  const T keep_scale = T(1.0 / (1.0 - d.dropout_p));
  for_each_head(d.B * d.H, 10 * Tq * Tk * Dh, [&](int64_t bh0, int64_t bh1) {
    std::vector<T> P(size_t(rows * Tk));                        // (rows, nc) probabilities
    std::vector<T> dS(size_t(rows * Tk));                       // (rows, nc) dP, then dS
    std::vector<T> Pd(dropout ? size_t(rows * Tk) : 0);         // (rows, nc) P * keep
    std::vector<T> keep(dropout ? size_t(rows * Tk) : 0);       // (rows, nc) dropout factors
    std::vector<T> bias(key_padding ? size_t(Tk) : 0);          // (Tk)
    std::vector<uint32_t> words(dropout ? size_t(Tk + 8) : 0);  // Philox words of one row
    std::vector<T> Drow(size_t(rows), T(0));                    // (rows) rowsum(dO * O)
    for (int64_t bh = bh0; bh < bh1; ++bh) {
      if (key_padding) padding_bias(key_padding + (bh / d.H) * Tk, Tk, bias.data());
      const T* qb = q + bh * Tq * Dh;      // (Tq, Dh)
      const T* kb = k + bh * Tk * Dh;      // (Tk, Dh)
      const T* vb = v + bh * Tk * Dh;      // (Tk, Dh)
      const T* ob = out + bh * Tq * Dh;    // (Tq, Dh)
      const T* gob = dout + bh * Tq * Dh;  // (Tq, Dh)
      T* dqb = dq + bh * Tq * Dh;          // (Tq, Dh)
      T* dkb = dk + bh * Tk * Dh;          // (Tk, Dh)
      T* dvb = dv + bh * Tk * Dh;          // (Tk, Dh)
      std::fill(dkb, dkb + Tk * Dh, T(0));
      std::fill(dvb, dvb + Tk * Dh, T(0));
      for (int64_t i0 = 0; i0 < Tq; i0 += rows) {
        const int64_t nr = std::min(rows, Tq - i0);
        const int64_t nc = d.causal ? std::min(i0 + nr, Tk) : Tk;
        gemm(CblasNoTrans, CblasTrans, nr, nc, Dh, T(d.scale), qb + i0 * Dh, Dh, kb, Dh, T(0), P.data(), nc);
        for (int64_t r = 0; r < nr; ++r) {
          const int64_t i = i0 + r, nv = visible_keys(d, i);
          T* p = P.data() + r * nc;
          rows::recompute_probs(p, key_padding ? bias.data() : nullptr, lse[bh * Tq + i], nv, nc);
          Drow[size_t(r)] = dot(Dh, gob + i * Dh, ob + i * Dh);
          if (dropout) {
            T* kr = keep.data() + r * nc;
            rows::dropout_keep(d.seed, d.offset, uint64_t((bh * Tq + i) * Tk), nv, threshold, keep_scale, words.data(),
                               kr);
            std::fill(kr + nv, kr + nc, T(0));
            rows::mul(Pd.data() + r * nc, p, kr, nc);
          }
        }
        const T* Pv = dropout ? Pd.data() : P.data();  // the matrix that multiplied V in forward
        gemm(CblasTrans, CblasNoTrans, nc, Dh, nr, T(1), Pv, nc, gob + i0 * Dh, Dh, T(1), dvb, Dh);
        gemm(CblasNoTrans, CblasTrans, nr, nc, Dh, T(1), gob + i0 * Dh, Dh, vb, Dh, T(0), dS.data(), nc);
        for (int64_t r = 0; r < nr; ++r)
          rows::softmax_grad(dS.data() + r * nc, P.data() + r * nc, dropout ? keep.data() + r * nc : nullptr,
                             Drow[size_t(r)], nc);
        gemm(CblasNoTrans, CblasNoTrans, nr, Dh, nc, T(d.scale), dS.data(), nc, kb, Dh, T(0), dqb + i0 * Dh, Dh);
        gemm(CblasTrans, CblasNoTrans, nc, Dh, nr, T(d.scale), dS.data(), nc, qb + i0 * Dh, Dh, T(1), dkb, Dh);
      }
    }
  });
}

template void attention_forward<float>(const AttentionDims&, const float*, const float*, const float*, const uint8_t*,
                                       float*, float*);
template void attention_forward<double>(const AttentionDims&, const double*, const double*, const double*,
                                        const uint8_t*, double*, double*);
template void attention_backward<float>(const AttentionDims&, const float*, const float*, const float*, const uint8_t*,
                                        const float*, const float*, const float*, float*, float*, float*);
template void attention_backward<double>(const AttentionDims&, const double*, const double*, const double*,
                                         const uint8_t*, const double*, const double*, const double*, double*, double*,
                                         double*);

}  // namespace hm::cpu::blocked
