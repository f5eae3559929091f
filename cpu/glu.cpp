// Scalar reference GLU kernels (the "scalar" variant of the glu_* kernel tables).
#include "cpu/glu.h"

#include <cmath>

namespace hm::cpu::scalar {
namespace {

// sigmoid through exp(-|v|) <= 1, so nothing overflows for any v (the Highway variant does the same).
template <class T>
T sigmoid(T v) {
  const T e = std::exp(-std::abs(v));
  return v >= 0 ? T(1) / (T(1) + e) : e / (T(1) + e);
}

}  // namespace

template <class T>
void glu_forward(const T* a, const T* b, int64_t n, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * sigmoid(b[i]);
}

template <class T>
void glu_backward(const T* dy, const T* a, const T* b, int64_t n, T* da, T* db) {
  for (int64_t i = 0; i < n; ++i) {
    const T s = sigmoid(b[i]);
    da[i] = dy[i] * s;
    db[i] = dy[i] * a[i] * s * (T(1) - s);
  }
}

template void glu_forward<float>(const float*, const float*, int64_t, float*);
template void glu_forward<double>(const double*, const double*, int64_t, double*);
template void glu_backward<float>(const float*, const float*, const float*, int64_t, float*, float*);
template void glu_backward<double>(const double*, const double*, const double*, int64_t, double*, double*);

}  // namespace hm::cpu::scalar
