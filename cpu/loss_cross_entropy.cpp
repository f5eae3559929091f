// Scalar reference cross-entropy fused with log-softmax (the "scalar" variant of the cross_entropy_* kernel
// tables; torch.nn.functional.cross_entropy, HuBERT's masked-prediction loss over the cosine logits). The row's
// log-sum-exp is max-shifted; the backward recomputes softmax from the saved log-sum-exp instead of storing (N, C)
// probabilities.
#include <cmath>

#include "cpu/loss.h"

namespace hm::cpu::scalar {

template <class T>
void cross_entropy_forward(const T* logits, const int64_t* target, const T* class_weight, int64_t ignore_index,
                           int64_t rows, int64_t C, T* loss, T* lse, T* row_weight) {
  for (int64_t i = 0; i < rows; ++i) {
    const T* x = logits + i * C;  // (C)
    T m = x[0];
    for (int64_t c = 1; c < C; ++c) m = x[c] > m ? x[c] : m;
    T s = 0;
    for (int64_t c = 0; c < C; ++c) s += std::exp(x[c] - m);
    lse[i] = m + std::log(s);
    const int64_t t = target[i];
    if (t == ignore_index) {
      loss[i] = 0;
      row_weight[i] = 0;
      continue;
    }
    const T w = class_weight ? class_weight[t] : T(1);
    loss[i] = w * (lse[i] - x[t]);  // nll_loss(log_softmax(x)): -w * (x[t] - lse)
    row_weight[i] = w;
  }
}

template <class T>
void cross_entropy_backward(const T* logits, const int64_t* target, const T* class_weight, int64_t ignore_index,
                            const T* lse, const T* row_grad, int64_t rows, int64_t C, T* dlogits) {
  for (int64_t i = 0; i < rows; ++i) {
    const T* x = logits + i * C;  // (C)
    T* dx = dlogits + i * C;      // (C)
    const int64_t t = target[i];
    if (t == ignore_index) {
      for (int64_t c = 0; c < C; ++c) dx[c] = 0;
      continue;
    }
    const T k = row_grad[i] * (class_weight ? class_weight[t] : T(1));
    for (int64_t c = 0; c < C; ++c) dx[c] = k * std::exp(x[c] - lse[i]);
    dx[t] -= k;
  }
}

template void cross_entropy_forward<float>(const float*, const int64_t*, const float*, int64_t, int64_t, int64_t,
                                           float*, float*, float*);
template void cross_entropy_forward<double>(const double*, const int64_t*, const double*, int64_t, int64_t, int64_t,
                                            double*, double*, double*);
template void cross_entropy_backward<float>(const float*, const int64_t*, const float*, int64_t, const float*,
                                            const float*, int64_t, int64_t, float*);
template void cross_entropy_backward<double>(const double*, const int64_t*, const double*, int64_t, const double*,
                                             const double*, int64_t, int64_t, double*);

}  // namespace hm::cpu::scalar
