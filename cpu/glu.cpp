// GLU kernels (torch.nn.functional.glu; the Conformer convolution module's pointwise conv -> GLU).
#include "cpu/glu.h"

#include <cmath>

#include "cpu/parallel.h"

namespace hm::cpu {
namespace {

template <class T>
T sigmoid(T v) {
  // 1 / (1 + exp(-v)) overflows exp only for v < -709 (f64) / -88 (f32), where it correctly returns 0.
  return T(1) / (T(1) + std::exp(-v));
}

}  // namespace

template <class T>
void glu_forward(const T* x, int64_t P, int64_t H, int64_t Q, T* y) {
  parallel_for(P * H, 8 * Q, [&](int64_t begin, int64_t end) {
    for (int64_t ph = begin; ph < end; ++ph) {
      const int64_t p = ph / H, h = ph % H;
      const T* a = x + (p * 2 * H + h) * Q;  // (Q) first half
      const T* b = a + H * Q;                // (Q) second half (the gate)
      T* yr = y + ph * Q;                    // (Q)
      for (int64_t q = 0; q < Q; ++q) yr[q] = a[q] * sigmoid(b[q]);
    }
  });
}

template <class T>
void glu_backward(const T* dy, const T* x, int64_t P, int64_t H, int64_t Q, T* dx) {
  parallel_for(P * H, 12 * Q, [&](int64_t begin, int64_t end) {
    for (int64_t ph = begin; ph < end; ++ph) {
      const int64_t p = ph / H, h = ph % H;
      const T* a = x + (p * 2 * H + h) * Q;  // (Q)
      const T* b = a + H * Q;                // (Q)
      T* da = dx + (p * 2 * H + h) * Q;      // (Q)
      T* db = da + H * Q;                    // (Q)
      const T* g = dy + ph * Q;              // (Q)
      for (int64_t q = 0; q < Q; ++q) {
        const T s = sigmoid(b[q]);
        da[q] = g[q] * s;
        db[q] = g[q] * a[q] * s * (T(1) - s);
      }
    }
  });
}

template void glu_forward<float>(const float*, int64_t, int64_t, int64_t, float*);
template void glu_forward<double>(const double*, int64_t, int64_t, int64_t, double*);
template void glu_backward<float>(const float*, const float*, int64_t, int64_t, int64_t, float*);
template void glu_backward<double>(const double*, const double*, int64_t, int64_t, int64_t, double*);

}  // namespace hm::cpu
