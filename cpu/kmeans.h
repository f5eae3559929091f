// K-means kernels on raw row-major float32 matrices (train/kmeans.cpp builds mini-batch k-means on them).
//
// Squared distances use the expansion ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2 with the cross term from
// cblas_sgemm (the same expansion scikit-learn's lloyd_iter_chunked_dense and fairseq's ApplyKmeans use).
// Work is split into blocks of rows whose size depends only on k (kmeans_row_block), each handled by one thread
// with a single-threaded sgemm, and every reduction runs in block order: results are bit-identical for any
// thread count.
#pragma once
#include <cstdint>

namespace hm::cpu {

// Rows per block: the (rows, k) GEMM output stays within ~256 KB (L2), between 64 and 1024 rows, multiple of 16.
int64_t kmeans_row_block(int64_t k);

// For each row i of x (n, d): labels[i] = argmin_j ||x_i - c_j||^2 over c (k, d) (first index on ties) and
// min_dist[i] = that squared distance (clamped at 0).
using KmeansAssignFn = void (*)(const float* x, int64_t n, int64_t d, const float* c, int64_t k, int32_t* labels,
                                float* min_dist);

// Direct sum of squared differences (double accumulation): the reference.
void kmeans_assign_scalar(const float* x, int64_t n, int64_t d, const float* c, int64_t k, int32_t* labels,
                          float* min_dist);
// GEMM expansion, threaded over row blocks; the argmin one centre at a time ("sgemm") or a SIMD vector of
// centres at a time with Highway ("sgemm_hwy").
void kmeans_assign_sgemm(const float* x, int64_t n, int64_t d, const float* c, int64_t k, int32_t* labels,
                         float* min_dist);
void kmeans_assign_sgemm_hwy(const float* x, int64_t n, int64_t d, const float* c, int64_t k, int32_t* labels,
                             float* min_dist);

// labels[i] = argmin_j (c_sq[j] - 2 g[i, j]) over g (rows, k), first j on ties; best[i] = the minimum
// (Highway, dynamic dispatch; cpu/kmeans_hwy.cpp).
void argmin_rows(const float* g, int64_t rows, int64_t k, const float* c_sq, int32_t* labels, float* best);

// out (n, m) = squared distances between rows of x (n, d) and rows of y (m, d), clamped at 0; x_sq (n,) and
// y_sq (m,) are the rows' squared norms. GEMM expansion, threaded over row blocks (k-means++ candidates).
void sq_distances(const float* x, const float* x_sq, int64_t n, int64_t d, const float* y, const float* y_sq, int64_t m,
                  float* out);

// out (n,) = squared L2 norm of each row of x (n, d), accumulated in double.
void row_sq_norms(const float* x, int64_t n, int64_t d, float* out);

}  // namespace hm::cpu
