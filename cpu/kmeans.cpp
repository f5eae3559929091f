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

// Run f(block) for every block of kKmeansRowBlock rows of [0, n); blocks are distributed statically over threads.
template <class F>
void for_each_block(int64_t n, F&& f) {
  const int64_t blocks = (n + kKmeansRowBlock - 1) / kKmeansRowBlock;
  if (blocks <= 1) {
    if (n > 0) f(int64_t(0));
    return;
  }
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (int64_t b = 0; b < blocks; ++b) f(b);
}

}  // namespace

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

void kmeans_assign_sgemm(const float* x, int64_t n, int64_t d, const float* c, int64_t k, int32_t* labels,
                         float* min_dist) {
  std::vector<float> c_sq(static_cast<size_t>(k));  // (k,)
  row_sq_norms(c, k, d, c_sq.data());
  SingleThreadedBlas blas1;
  for_each_block(n, [&](int64_t b) {
    const int64_t r0 = b * kKmeansRowBlock, rows = std::min(kKmeansRowBlock, n - r0);
    std::vector<float> g(static_cast<size_t>(rows * k));  // (rows, k) = x_block . c^T
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows), int(k), int(d), 1.0f, x + r0 * d, int(d), c,
                int(d), 0.0f, g.data(), int(k));
    for (int64_t i = 0; i < rows; ++i) {
      const float* xi = x + (r0 + i) * d;
      double xs = 0;
      for (int64_t t = 0; t < d; ++t) xs += double(xi[t]) * double(xi[t]);
      // argmin_j ||c_j||^2 - 2 x.c_j (||x||^2 is common to all j); first index wins ties
      const float* gi = g.data() + i * k;
      float best = c_sq[0] - 2.0f * gi[0];
      int32_t arg = 0;
      for (int64_t j = 1; j < k; ++j) {
        const float v = c_sq[size_t(j)] - 2.0f * gi[j];
        if (v < best) best = v, arg = int32_t(j);
      }
      labels[r0 + i] = arg;
      min_dist[r0 + i] = std::max(0.0f, float(xs) + best);
    }
  });
}

void sq_distances(const float* x, const float* x_sq, int64_t n, int64_t d, const float* y, const float* y_sq,
                  int64_t m, float* out) {
  SingleThreadedBlas blas1;
  for_each_block(n, [&](int64_t b) {
    const int64_t r0 = b * kKmeansRowBlock, rows = std::min(kKmeansRowBlock, n - r0);
    float* o = out + r0 * m;  // (rows, m)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows), int(m), int(d), -2.0f, x + r0 * d, int(d), y,
                int(d), 0.0f, o, int(m));
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < m; ++j) o[i * m + j] = std::max(0.0f, o[i * m + j] + x_sq[r0 + i] + y_sq[j]);
  });
}

}  // namespace hm::cpu
