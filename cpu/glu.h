// Gated linear unit kernels: raw pointers + sizes, contiguous buffers (DESIGN.md 1).
#pragma once
#include <cstdint>

namespace hm::cpu {

// ---- glu (torch.nn.functional.glu): x viewed as (P, 2H, Q) with the halved dim in the middle --------------------
//   y[p, h, q] = x[p, h, q] * sigmoid(x[p, H + h, q])
template <class T>
void glu_forward(const T* x,  // (P, 2H, Q)
                 int64_t P, int64_t H, int64_t Q,
                 T* y);  // (P, H, Q)
//   dx[p, h, q]     = dy * sigmoid(b)
//   dx[p, H + h, q] = dy * a * sigmoid(b) * (1 - sigmoid(b))        (a = first half, b = second half)
template <class T>
void glu_backward(const T* dy,  // (P, H, Q)
                  const T* x,   // (P, 2H, Q)
                  int64_t P, int64_t H, int64_t Q,
                  T* dx);  // (P, 2H, Q)

}  // namespace hm::cpu
