// CUDA GLU kernels (torch.nn.functional.glu): x viewed as (P, 2n), each p a first half a = x[p, :n] and a gate half
// b = x[p, n:], so one launch covers every p (the CPU kernels take one span). Raw device pointers (DESIGN.md 1);
// T float or double; formulas of cpu/glu.cpp (sigmoid through exp(-|b|), no overflow).
#pragma once
#include <cstdint>

namespace hm::cuda {

//   y[p, i] = a * sigmoid(b)                                          x: (P, 2n), y: (P, n)
template <class T>
void glu_forward(const T* x, T* y, int64_t P, int64_t n);
//   dx[p, i] = dy * sigmoid(b),  dx[p, n + i] = dy * a * sigmoid(b) * (1 - sigmoid(b))
//                                                                     x, dx: (P, 2n), dy: (P, n)
template <class T>
void glu_backward(const T* dy, const T* x, T* dx, int64_t P, int64_t n);

}  // namespace hm::cuda
