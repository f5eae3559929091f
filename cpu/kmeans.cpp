#include "cpu/kmeans.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "cpu/parallel.h"

extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
}

namespace hm::cpu {
namespace {

// Our row blocks already use every thread; OpenBLAS must not spawn its own inside them (oversubscription, and
// its pthread pool serialises concurrent callers). Restores the previous setting on exit.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas() : active_(!omp_in_parallel()), saved_(active_ ? openblas_get_num_threads() : 1) {
    if (active_ && saved_ != 1) openblas_set_num_threads(1);
  }
  ~SingleThreadedBlas() {
    if (active_ && saved_ != 1) openblas_set_num_threads(saved_);
  }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  bool active_;
  int saved_;
};

// Run f(r0, rows) for every block of `block` rows of [0, n); blocks are distributed statically over threads.
// Below ~2 MFLOP (cost_per_row = flops per row) one thread does all blocks: an OpenMP region costs more than it
// saves there, especially on a busy machine. Same blocks either way, so the results do not change.
template <class F>
void for_each_block(int64_t n, int64_t block, int64_t cost_per_row, F&& f) {
  const int64_t blocks = (n + block - 1) / block;
  if (blocks <= 1 || n * cost_per_row < (int64_t(1) << 21)) {
    for (int64_t b = 0; b < blocks; ++b) f(b * block, std::min(block, n - b * block));
    return;
  }
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (int64_t b = 0; b < blocks; ++b) f(b * block, std::min(block, n - b * block));
}

}  // namespace

int64_t kmeans_row_block(int64_t k) {
  const int64_t rows = (256 * 1024 / 4) / std::max<int64_t>(k, 1);
  return std::clamp<int64_t>(rows / 16 * 16, 64, 1024);
}

void row_sq_norms(const float* x, int64_t n, int64_t d, float* out) {
  parallel_for(n, d, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      double s = 0;
      for (int64_t j = 0; j < d; ++j) s += double(x[i * d + j]) * double(x[i * d + j]);
      out[i] = float(s);
    }
  });
}

void kmeans_assign_scalar(const float* x, int64_t n, int64_t d, const float* c, int64_t k, int32_t* labels,
                          float* min_dist) {
  parallel_for(n, k * d * 3, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float* xi = x + i * d;  // (d,)
      double best = 0;
      int32_t arg = 0;
      for (int64_t j = 0; j < k; ++j) {
        const float* cj = c + j * d;  // (d,)
        double s = 0;
        for (int64_t t = 0; t < d; ++t) {
          const double diff = double(xi[t]) - double(cj[t]);
          s += diff * diff;
        }
        if (j == 0 || s < best) best = s, arg = int32_t(j);
      }
      labels[i] = arg;
      min_dist[i] = float(best);
    }
  });
}

namespace {

// Shared by the two GEMM variants: per block, g = x_block . c^T (single-threaded sgemm), then
// argmin(rows of g) writes labels and the minimum of ||c||^2 - 2 x.c, to which ||x||^2 is added.
template <class Argmin>
void assign_by_gemm(const float* x, int64_t n, int64_t d, const float* c, int64_t k, int32_t* labels, float* min_dist,
                    Argmin&& argmin) {
  std::vector<float> c_sq(static_cast<size_t>(k));  // (k,)
  row_sq_norms(c, k, d, c_sq.data());
  SingleThreadedBlas blas1;
  for_each_block(n, kmeans_row_block(k), 2 * k * d, [&](int64_t r0, int64_t rows) {
    std::vector<float> g(static_cast<size_t>(rows * k));  // (rows, k) = x_block . c^T
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows), int(k), int(d), 1.0f, x + r0 * d, int(d), c, int(d),
                0.0f, g.data(), int(k));
    argmin(g.data(), rows, c_sq.data(), labels + r0, min_dist + r0);
    for (int64_t i = 0; i < rows; ++i) {
      const float* xi = x + (r0 + i) * d;
      double xs = 0;
      for (int64_t t = 0; t < d; ++t) xs += double(xi[t]) * double(xi[t]);
      min_dist[r0 + i] = std::max(0.0f, float(xs) + min_dist[r0 + i]);
    }
  });
}

}  // namespace

void kmeans_assign_sgemm(const float* x, int64_t n, int64_t d, const float* c, int64_t k, int32_t* labels,
                         float* min_dist) {
  assign_by_gemm(x, n, d, c, k, labels, min_dist,
                 [k](const float* g, int64_t rows, const float* c_sq, int32_t* lab, float* best) {
                   for (int64_t i = 0; i < rows; ++i) {
                     // argmin_j ||c_j||^2 - 2 x.c_j (||x||^2 is common to all j); first index wins ties
                     const float* gi = g + i * k;
                     float bv = c_sq[0] - 2.0f * gi[0];
                     int32_t bi = 0;
                     for (int64_t j = 1; j < k; ++j) {
                       const float v = c_sq[j] - 2.0f * gi[j];
                       if (v < bv) bv = v, bi = int32_t(j);
                     }
                     lab[i] = bi;
                     best[i] = bv;
                   }
                 });
}

void kmeans_assign_sgemm_hwy(const float* x, int64_t n, int64_t d, const float* c, int64_t k, int32_t* labels,
                             float* min_dist) {
  assign_by_gemm(x, n, d, c, k, labels, min_dist,
                 [k](const float* g, int64_t rows, const float* c_sq, int32_t* lab, float* best) {
                   argmin_rows(g, rows, k, c_sq, lab, best);
                 });
}

void sq_distances(const float* x, const float* x_sq, int64_t n, int64_t d, const float* y, const float* y_sq, int64_t m,
                  float* out) {
  SingleThreadedBlas blas1;
  for_each_block(n, kmeans_row_block(m), 2 * m * d, [&](int64_t r0, int64_t rows) {
    float* o = out + r0 * m;  // (rows, m)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows), int(m), int(d), -2.0f, x + r0 * d, int(d), y,
                int(d), 0.0f, o, int(m));
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < m; ++j) o[i * m + j] = std::max(0.0f, o[i * m + j] + x_sq[r0 + i] + y_sq[j]);
  });
}

}  // namespace hm::cpu
