// Loss kernels: cross-entropy fused with log-softmax, and CTC (raw pointers + sizes, contiguous buffers).
// Targets have been range-checked by the op layer; these kernels trust them.
#pragma once
#include <cstdint>

namespace hm::cpu {

// ---- cross-entropy from logits (torch.nn.functional.cross_entropy = nll_loss(log_softmax(x))) ------------------
//   lse[i] = log sum_c exp(x[i, c]);  w_i = class_weight[t_i] (1 without weights), 0 when t_i == ignore_index
//   loss[i] = w_i * (lse[i] - x[i, t_i])
// Variants process rows [0, rows) serially; the op splits rows across threads.
template <class T>
using CrossEntropyForwardFn = void (*)(const T* logits,        // (rows, C)
                                       const int64_t* target,  // (rows)
                                       const T* class_weight,  // (C) or null
                                       int64_t ignore_index, int64_t rows, int64_t C,
                                       T* loss,         // (rows)
                                       T* lse,          // (rows)
                                       T* row_weight);  // (rows): w_i, the mean reduction's denominator terms

// dlogits[i, c] = row_grad[i] * w_i * (softmax(x[i])[c] - [c == t_i])     (rows with w_i = 0 get 0)
// row_grad[i] = dL / dloss[i] (the reduction's factor times the upstream gradient).
template <class T>
using CrossEntropyBackwardFn = void (*)(const T* logits, const int64_t* target, const T* class_weight,
                                        int64_t ignore_index,
                                        const T* lse,       // (rows)
                                        const T* row_grad,  // (rows)
                                        int64_t rows, int64_t C,
                                        T* dlogits);  // (rows, C)

namespace scalar {
template <class T>
void cross_entropy_forward(const T* logits, const int64_t* target, const T* class_weight, int64_t ignore_index,
                           int64_t rows, int64_t C, T* loss, T* lse, T* row_weight);
template <class T>
void cross_entropy_backward(const T* logits, const int64_t* target, const T* class_weight, int64_t ignore_index,
                            const T* lse, const T* row_grad, int64_t rows, int64_t C, T* dlogits);
}  // namespace scalar

// Highway (dynamic dispatch): vectorised max / exp-sum over C (hwy/contrib/math), scalar tail.
namespace simd {
void cross_entropy_forward_f32(const float* logits, const int64_t* target, const float* class_weight,
                               int64_t ignore_index, int64_t rows, int64_t C, float* loss, float* lse,
                               float* row_weight);
void cross_entropy_forward_f64(const double* logits, const int64_t* target, const double* class_weight,
                               int64_t ignore_index, int64_t rows, int64_t C, double* loss, double* lse,
                               double* row_weight);
void cross_entropy_backward_f32(const float* logits, const int64_t* target, const float* class_weight,
                                int64_t ignore_index, const float* lse, const float* row_grad, int64_t rows, int64_t C,
                                float* dlogits);
void cross_entropy_backward_f64(const double* logits, const int64_t* target, const double* class_weight,
                                int64_t ignore_index, const double* lse, const double* row_grad, int64_t rows,
                                int64_t C, double* dlogits);
}  // namespace simd

// ---- CTC loss (Graves et al. 2006; PyTorch's CPU ctc_loss, ATen/native/LossCTC.cpp) -------------------------
// log_probs (T, B, C) are log-softmaxed scores. Batch element b uses targets[off[b] .. off[b] + tl[b]) and frames
// [0, il[b]). The extended target l' = (blank, l1, blank, l2, ..., blank) has 2 * tl + 1 states;
//   alpha[0, 0] = lp[0, blank], alpha[0, 1] = lp[0, l'_1]
//   alpha[t, s] = lp[t, l'_s] + logsumexp(alpha[t-1, s], alpha[t-1, s-1], alpha[t-1, s-2] if l'_s != l'_{s-2})
//   nll[b] = -logsumexp(alpha[il-1, 2 tl], alpha[il-1, 2 tl - 1])
// Infeasible alignments give nll = +inf. An element with il = 0 has nll = 0 when tl = 0 and +inf otherwise
// (torch 1.13 reads outside alpha there). Parallel over the batch.
// Index (b * max_time + t) * C + c of the first NaN among the frames t < input_lengths[b] of log_probs (T, B, C),
// scanning b, then t, then c; -1 when there is none (the op throws naming it: NaN would silently poison the loss).
template <class T>
int64_t ctc_first_nan(const T* log_probs, const int64_t* input_lengths, int64_t max_time, int64_t B, int64_t C);

template <class T>
void ctc_loss_forward(const T* log_probs,             // (T, B, C)
                      const int64_t* targets,         // concatenated or padded labels
                      const int64_t* target_offsets,  // (B): start of b's labels in targets
                      const int64_t* input_lengths,   // (B)
                      const int64_t* target_lengths,  // (B)
                      int64_t max_time, int64_t B, int64_t C, int64_t max_target, int64_t blank,
                      T* nll,         // (B)
                      T* log_alpha);  // (B, T, 2 * max_target + 1)

// Gradient w.r.t. log_probs exactly as torch's ctc_loss_backward_cpu:
//   beta[il-1, 2tl] = lp[il-1, blank], beta[il-1, 2tl-1] = lp[il-1, l'_{2tl-1}]
//   beta[t, s] = lp[t, l'_s] + logsumexp(beta[t+1, s], beta[t+1, s+1], beta[t+1, s+2] if l'_s != l'_{s+2})
//   grad[t, b, c] = grad_scale[b] * (exp(lp[t, c]) - exp(logsumexp_{s: l'_s = c}(alpha + beta)[t, s] + nll - lp))
// for t < il and 0 for t >= il. The exp(lp) term makes this the gradient w.r.t. the logits under log_softmax
// (torch does the same; log_softmax's backward then passes it through unchanged, since it sums to 0 over c).
// zero_infinity: elements with nll = inf get a zero gradient; without it they get NaN, as in torch.
template <class T>
void ctc_loss_backward(const T* log_probs, const int64_t* targets, const int64_t* target_offsets,
                       const int64_t* input_lengths, const int64_t* target_lengths, int64_t max_time, int64_t B,
                       int64_t C, int64_t max_target, int64_t blank,
                       const T* nll,         // (B)
                       const T* log_alpha,   // (B, T, 2 * max_target + 1)
                       const T* grad_scale,  // (B): dL / dnll[b]
                       bool zero_infinity,
                       T* grad);  // (T, B, C), fully written

}  // namespace hm::cpu
