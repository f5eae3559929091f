// CTC loss, forward (alpha) and backward (beta + gradient) in log space, following torch's CPU implementation
// (ATen/native/LossCTC.cpp, ctc_loss_cpu_template / ctc_loss_backward_cpu_template) step for step so that the
// float32 results match torch 1.13 to rounding. Parallel over the batch: each element owns its alpha / beta slab
// and its (T, C) slice of the gradient.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/loss.h"
#include "cpu/parallel.h"

namespace hm::cpu {
namespace {

// One batch element's view of the inputs.
template <class T>
struct CtcItem {
  const T* lp;        // log_probs + b * C; frame t at lp[t * B * C]
  int64_t lp_stride;  // B * C
  const int64_t* tg;  // its labels (tl)
  int64_t il, tl;
  int64_t blank;
  T log_prob(int64_t t, int64_t c) const { return lp[t * lp_stride + c]; }
  // Label of state s of the extended target (blank, l1, blank, l2, ..., blank).
  int64_t label(int64_t s) const { return (s % 2 == 0) ? blank : tg[s / 2]; }
};

// log(exp(a) + exp(b) + exp(c)) with torch's convention: shift by the max, or by 0 when all are -inf.
template <class T>
T log_sum3(T a, T b, T c) {
  T m = std::max(a, std::max(b, c));
  if (m == -std::numeric_limits<T>::infinity()) m = 0;
  return std::log(std::exp(a - m) + std::exp(b - m) + std::exp(c - m)) + m;
}

template <class T>
T log_add(T a, T b) {
  T m = std::max(a, b);
  if (m == -std::numeric_limits<T>::infinity()) m = 0;
  return std::log(std::exp(a - m) + std::exp(b - m)) + m;
}

template <class T>
CtcItem<T> item(const T* log_probs, const int64_t* targets, const int64_t* target_offsets, const int64_t* input_lengths,
                const int64_t* target_lengths, int64_t B, int64_t C, int64_t blank, int64_t b) {
  return {log_probs + b * C, B * C, targets + target_offsets[b], input_lengths[b], target_lengths[b], blank};
}

}  // namespace

template <class T>
int64_t ctc_first_nan(const T* log_probs, const int64_t* input_lengths, int64_t max_time, int64_t B, int64_t C) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < input_lengths[b]; ++t)
      for (int64_t c = 0; c < C; ++c)
        if (std::isnan(log_probs[(t * B + b) * C + c])) return (b * max_time + t) * C + c;
  return -1;
}

template <class T>
void ctc_loss_forward(const T* log_probs, const int64_t* targets, const int64_t* target_offsets,
                      const int64_t* input_lengths, const int64_t* target_lengths, int64_t max_time, int64_t B,
                      int64_t C, int64_t max_target, int64_t blank, T* nll, T* log_alpha) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  const int64_t A = 2 * max_target + 1;  // alpha row length
  parallel_for(B, max_time * A * 8, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const CtcItem<T> it = item(log_probs, targets, target_offsets, input_lengths, target_lengths, B, C, blank, b);
      T* la = log_alpha + b * max_time * A;  // (T, A)
      std::fill(la, la + max_time * A, kNegInf);
      if (it.il == 0) {
        nll[b] = it.tl == 0 ? T(0) : std::numeric_limits<T>::infinity();
        continue;
      }
      const int64_t S = 2 * it.tl + 1;
      la[0] = it.log_prob(0, blank);
      if (it.tl > 0) la[1] = it.log_prob(0, it.label(1));
      for (int64_t t = 1; t < it.il; ++t) {
        const T* prev = la + (t - 1) * A;  // (A)
        T* cur = la + t * A;               // (A)
        for (int64_t s = 0; s < S; ++s) {
          const int64_t c = it.label(s);
          const T a2 = s > 0 ? prev[s - 1] : kNegInf;
          // The skip transition s-2 -> s is allowed between different labels only (never into a blank).
          const T a3 = (s > 1 && it.label(s - 2) != c) ? prev[s - 2] : kNegInf;
          cur[s] = log_sum3(prev[s], a2, a3) + it.log_prob(t, c);
        }
      }
      const T* last = la + (it.il - 1) * A;
      nll[b] = it.tl == 0 ? -last[0] : -log_add(last[S - 1], last[S - 2]);
    }
  });
}

template <class T>
void ctc_loss_backward(const T* log_probs, const int64_t* targets, const int64_t* target_offsets,
                       const int64_t* input_lengths, const int64_t* target_lengths, int64_t max_time, int64_t B,
                       int64_t C, int64_t max_target, int64_t blank, const T* nll, const T* log_alpha,
                       const T* grad_scale, bool zero_infinity, T* grad) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  const int64_t A = 2 * max_target + 1;
  parallel_for(B, max_time * A * 16, [&](int64_t begin, int64_t end) {
    std::vector<T> beta(size_t(max_time * A));  // (T, A), reused across this chunk's elements
    for (int64_t b = begin; b < end; ++b) {
      const CtcItem<T> it = item(log_probs, targets, target_offsets, input_lengths, target_lengths, B, C, blank, b);
      auto g = [&](int64_t t, int64_t c) -> T& { return grad[(t * B + b) * C + c]; };
      // Frames past the input length, and whole elements dropped by zero_infinity, get zero gradient.
      const bool dropped = zero_infinity && nll[b] == std::numeric_limits<T>::infinity();
      for (int64_t t = dropped ? 0 : it.il; t < max_time; ++t)
        for (int64_t c = 0; c < C; ++c) g(t, c) = 0;
      if (dropped || it.il == 0) continue;

      // g(t, c) first collects log sum_{s: l'_s = c} alpha[t, s] * beta[t, s] (torch's eq. 16 accumulation).
      for (int64_t t = 0; t < it.il; ++t)
        for (int64_t c = 0; c < C; ++c) g(t, c) = kNegInf;
      const T* la = log_alpha + b * max_time * A;  // (T, A)
      T* lb = beta.data();                         // (T, A)
      std::fill(beta.begin(), beta.end(), kNegInf);
      const int64_t S = 2 * it.tl + 1;
      const int64_t t_last = it.il - 1;
      lb[t_last * A + S - 1] = it.log_prob(t_last, blank);
      g(t_last, blank) = la[t_last * A + S - 1] + lb[t_last * A + S - 1];
      if (it.tl > 0) {
        const int64_t c = it.label(S - 2);
        lb[t_last * A + S - 2] = it.log_prob(t_last, c);
        g(t_last, c) = la[t_last * A + S - 2] + lb[t_last * A + S - 2];
      }
      for (int64_t t = it.il - 2; t >= 0; --t) {
        const T* next = lb + (t + 1) * A;  // (A)
        T* cur = lb + t * A;               // (A)
        for (int64_t s = S - 1; s >= 0; --s) {
          const int64_t c = it.label(s);
          const T b2 = s < S - 1 ? next[s + 1] : kNegInf;
          const T b3 = (s < S - 2 && it.label(s + 2) != c) ? next[s + 2] : kNegInf;
          cur[s] = log_sum3(next[s], b2, b3) + it.log_prob(t, c);
          const T lab = la[t * A + s] + cur[s];
          T& acc = g(t, c);
          acc = acc == kNegInf ? lab : log_add(acc, lab);
        }
      }
      // grad = (exp(lp) - exp(log(alpha beta) + nll - lp)) * grad_out  (torch's wrap-up of eq. 16)
      const T nl = nll[b], gs = grad_scale[b];
      for (int64_t t = 0; t < it.il; ++t)
        for (int64_t c = 0; c < C; ++c) {
          const T lp = it.log_prob(t, c);
          g(t, c) = (std::exp(lp) - std::exp(g(t, c) + nl - lp)) * gs;
        }
    }
  });
}

template int64_t ctc_first_nan<float>(const float*, const int64_t*, int64_t, int64_t, int64_t);
template int64_t ctc_first_nan<double>(const double*, const int64_t*, int64_t, int64_t, int64_t);
template void ctc_loss_forward<float>(const float*, const int64_t*, const int64_t*, const int64_t*, const int64_t*,
                                      int64_t, int64_t, int64_t, int64_t, int64_t, float*, float*);
template void ctc_loss_forward<double>(const double*, const int64_t*, const int64_t*, const int64_t*, const int64_t*,
                                       int64_t, int64_t, int64_t, int64_t, int64_t, double*, double*);
template void ctc_loss_backward<float>(const float*, const int64_t*, const int64_t*, const int64_t*, const int64_t*,
                                       int64_t, int64_t, int64_t, int64_t, int64_t, const float*, const float*,
                                       const float*, bool, float*);
template void ctc_loss_backward<double>(const double*, const int64_t*, const int64_t*, const int64_t*, const int64_t*,
                                        int64_t, int64_t, int64_t, int64_t, int64_t, const double*, const double*,
                                        const double*, bool, double*);

}  // namespace hm::cpu
