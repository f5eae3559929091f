// CUDA cross-entropy fused with log-softmax (torch.nn.functional.cross_entropy): host launchers over raw DEVICE
// pointers + sizes, launched on hm::cuda::stream(). T is float or double (explicit instantiations in
// cuda/loss.cu). The forward has the cpu::CrossEntropyForwardFn contract and the backward the
// cpu::CrossEntropyBackwardFn one (cpu/loss.h), so the CPU scalar kernels are the conformance reference. Targets
// are int64 on the device, already range-checked by the op.
// Plain C++ header (no CUDA types).
#pragma once
#include <cstdint>

namespace hm::cuda {

// loss[i] = w_i * (lse[i] - x[i, t_i]), lse[i] = log sum_c exp(x[i, c]), w_i = weight[t_i] (1 without weights, 0
// when t_i == ignore_index). One 256-thread block per row (max-shifted log-sum-exp).
template <class T>
void cross_entropy_forward(const T* logits,        // (rows, C)
                           const int64_t* target,  // (rows)
                           const T* class_weight,  // (C) or null
                           int64_t ignore_index, int64_t rows, int64_t C,
                           T* loss,         // (rows)
                           T* lse,          // (rows)
                           T* row_weight);  // (rows)

// cpu::CrossEntropyBackwardFn contract: dlogits[i, c] = row_grad[i] * w_i * (softmax(x[i])[c] - [c == t_i]),
// ignored rows get 0. One block per row.
template <class T>
void cross_entropy_backward(const T* logits, const int64_t* target, const T* class_weight, int64_t ignore_index,
                            const T* lse,       // (rows)
                            const T* row_grad,  // (rows)
                            int64_t rows, int64_t C,
                            T* dlogits);  // (rows, C)

}  // namespace hm::cuda
