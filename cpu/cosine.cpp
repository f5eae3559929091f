// Cosine similarity over row pairs (torch.nn.functional.cosine_similarity as HuBERT's logits use it:
// cos((T, 1, D), (1, C, D), dim=-1) / 0.1). The op layer reduces any broadcast to rows of A, rows of B and one
// (row of A, row of B) pair per output; here every row norm is computed once and each output is one dot product.
#include "cpu/cosine.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/parallel.h"

namespace hm::cpu {
namespace {

template <class T>
T dot(const T* a, const T* b, int64_t D) {
  T s = 0;
  for (int64_t k = 0; k < D; ++k) s += a[k] * b[k];
  return s;
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

}  // namespace hm::cpu
