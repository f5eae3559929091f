// CUDA CTC loss (Graves et al. 2006) in log space, following torch's CPU implementation step for step as
// cpu/loss_ctc.cpp does (ATen/native/LossCTC.cpp), so that the CPU kernels are the conformance reference. Host
// launchers over raw DEVICE pointers, launched on hm::cuda::stream(); T is float or double. All index arrays are
// int64 on the device; targets are the concatenated or padded labels, element b's at targets[offsets[b] ..
// offsets[b] + target_lengths[b]).
// Plain C++ header (no CUDA types).
#pragma once
#include <cstdint>

namespace hm::cuda {

// Index (b * T + t) * C + c of the first NaN of log_probs (T, B, C) among the frames t < input_lengths[b] (the
// order the CPU op scans them in), or -1 when there is none. Synchronises with the stream (the op throws on NaN).
template <class T>
int64_t ctc_first_nan(const T* log_probs, const int64_t* input_lengths, int64_t max_time, int64_t B, int64_t C);

// cpu::ctc_loss_forward contract: nll (B) and log_alpha (B, T, 2 * max_target + 1), fully written (-inf outside
// the reachable states). One block per batch element, threads over the extended-label states, one __syncthreads
// per time step.
template <class T>
void ctc_loss_forward(const T* log_probs,             // (T, B, C)
                      const int64_t* targets,         // labels
                      const int64_t* target_offsets,  // (B)
                      const int64_t* input_lengths,   // (B)
                      const int64_t* target_lengths,  // (B)
                      int64_t max_time, int64_t B, int64_t C, int64_t max_target, int64_t blank,
                      T* nll,         // (B)
                      T* log_alpha);  // (B, T, 2 * max_target + 1)

// cpu::ctc_loss_backward contract: grad (T, B, C) fully written, grad_scale[b] = dL / dnll[b]. One block per element;
// the beta recursion runs in a (B, T, 2 * max_target + 1) workspace from the caching allocator.
template <class T>
void ctc_loss_backward(const T* log_probs, const int64_t* targets, const int64_t* target_offsets,
                       const int64_t* input_lengths, const int64_t* target_lengths, int64_t max_time, int64_t B,
                       int64_t C, int64_t max_target, int64_t blank,
                       const T* nll,         // (B)
                       const T* log_alpha,   // (B, T, 2 * max_target + 1)
                       const T* grad_scale,  // (B)
                       bool zero_infinity,
                       T* grad);  // (T, B, C)

}  // namespace hm::cuda
