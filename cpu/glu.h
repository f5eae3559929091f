// Gated linear unit kernels (torch.nn.functional.glu; the Conformer convolution module's pointwise conv -> GLU):
// raw pointers + sizes (DESIGN.md 1). With x viewed as (P, 2H, Q), each p has a first half a and a gate half b of
// H * Q contiguous elements; the kernels work elementwise on such spans, serially (the op splits across threads).
#pragma once
#include <cstdint>

namespace hm::cpu {

//   y = a * sigmoid(b)
template <class T>
using GluForwardFn = void (*)(const T* a,  // (n)
                              const T* b,  // (n)
                              int64_t n,
                              T* y);  // (n)

//   da = dy * sigmoid(b),  db = dy * a * sigmoid(b) * (1 - sigmoid(b))      (written)
template <class T>
using GluBackwardFn = void (*)(const T* dy,  // (n)
                               const T* a,   // (n)
                               const T* b,   // (n)
                               int64_t n,
                               T* da,   // (n)
                               T* db);  // (n)

namespace scalar {
template <class T>
void glu_forward(const T* a, const T* b, int64_t n, T* y);
template <class T>
void glu_backward(const T* dy, const T* a, const T* b, int64_t n, T* da, T* db);
}  // namespace scalar

// Highway (dynamic dispatch): vectorised exp (hwy/contrib/math), scalar tail.
namespace simd {
void glu_forward_f32(const float* a, const float* b, int64_t n, float* y);
void glu_forward_f64(const double* a, const double* b, int64_t n, double* y);
void glu_backward_f32(const float* dy, const float* a, const float* b, int64_t n, float* da, float* db);
void glu_backward_f64(const double* dy, const double* a, const double* b, int64_t n, double* da, double* db);
}  // namespace simd

}  // namespace hm::cpu
