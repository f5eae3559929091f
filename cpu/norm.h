// Normalisation kernels (layer, group, batch norm): raw pointers + sizes, contiguous row-major buffers, no Tensor
// (DESIGN.md 1). Every forward saves the per-group mean and rstd = 1 / sqrt(var + eps) that its backward reuses.
// Variances are biased (divide by the element count) as in torch.nn.{Layer,Group,Batch}Norm.
#pragma once
#include <cstdint>

namespace hm::cpu {

// ---- layer norm over the last dim of a (rows, C) matrix (llm.c layernorm_forward/backward) --------------------
//   mean = sum_c x / C,  var = sum_c (x - mean)^2 / C,  rstd = 1 / sqrt(var + eps)
//   y = (x - mean) * rstd * weight + bias              (weight / bias null -> 1 / 0)
// Variants process rows [0, rows) serially; the op splits rows across threads.
template <class T>
using LayerNormForwardFn = void (*)(const T* x,       // (rows, C)
                                    const T* weight,  // (C) or null
                                    const T* bias,    // (C) or null
                                    T eps, int64_t rows, int64_t C,
                                    T* y,      // (rows, C)
                                    T* mean,   // (rows)
                                    T* rstd);  // (rows)

// With xhat = (x - mean) * rstd and d = dy * weight:
//   dx = rstd * (d - mean_c(d) - xhat * mean_c(d * xhat))     (written; dx may be null)
//   dweight += sum_rows dy * xhat,  dbias += sum_rows dy       (accumulated; either may be null)
template <class T>
using LayerNormBackwardFn = void (*)(const T* dy,      // (rows, C)
                                     const T* x,       // (rows, C)
                                     const T* weight,  // (C) or null
                                     const T* mean,    // (rows)
                                     const T* rstd,    // (rows)
                                     int64_t rows, int64_t C,
                                     T* dx,       // (rows, C) or null
                                     T* dweight,  // (C) or null
                                     T* dbias);   // (C) or null

namespace scalar {
template <class T>
void layer_norm_forward(const T* x, const T* weight, const T* bias, T eps, int64_t rows, int64_t C, T* y, T* mean,
                        T* rstd);
template <class T>
void layer_norm_backward(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd, int64_t rows,
                         int64_t C, T* dx, T* dweight, T* dbias);
}  // namespace scalar

// Highway (dynamic dispatch) variants: SIMD over C, scalar tail.
namespace simd {
void layer_norm_forward_f32(const float* x, const float* weight, const float* bias, float eps, int64_t rows, int64_t C,
                            float* y, float* mean, float* rstd);
void layer_norm_forward_f64(const double* x, const double* weight, const double* bias, double eps, int64_t rows,
                            int64_t C, double* y, double* mean, double* rstd);
void layer_norm_backward_f32(const float* dy, const float* x, const float* weight, const float* mean, const float* rstd,
                             int64_t rows, int64_t C, float* dx, float* dweight, float* dbias);
void layer_norm_backward_f64(const double* dy, const double* x, const double* weight, const double* mean,
                             const double* rstd, int64_t rows, int64_t C, double* dx, double* dweight, double* dbias);
}  // namespace simd

// ---- group norm on (B, C, L) with G groups of C/G channels (torch.nn.functional.group_norm) --------------------
// Statistics per (b, g) over C/G * L elements; weight/bias are per channel. Parallel over (b, g).
template <class T>
void group_norm_forward(const T* x,       // (B, C, L)
                        const T* weight,  // (C) or null
                        const T* bias,    // (C) or null
                        T eps, int64_t B, int64_t C, int64_t L, int64_t G,
                        T* y,      // (B, C, L)
                        T* mean,   // (B, G)
                        T* rstd);  // (B, G)

// dx as layer norm with the group as the row; dweight[c] = sum_{b,l} dy * xhat, dbias[c] = sum_{b,l} dy (written,
// not accumulated). Any of dx / dweight / dbias may be null.
template <class T>
void group_norm_backward(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd, int64_t B, int64_t C,
                         int64_t L, int64_t G, T* dx, T* dweight, T* dbias);

// ---- batch norm on (B, C, L): statistics per channel over (B, L) ---------------------------------------------
// pad_mask (B, L), 1 = padded frame, may be null. Padded frames are left out of the statistics; they are still
// normalised with them. Writes the biased mean/var per channel and returns the number of valid frames.
template <class T>
int64_t batch_norm_stats(const T* x, const uint8_t* pad_mask, int64_t B, int64_t C, int64_t L,
                         T* mean,  // (C)
                         T* var);  // (C), biased

// running = (1 - momentum) * running + momentum * batch, with the unbiased variance var * n / (n - 1)
// (torch.nn.BatchNorm's running-stat update). Either running buffer may be null.
template <class T>
void batch_norm_update_running(const T* mean, const T* var, int64_t n, T momentum, int64_t C, T* running_mean,
                               T* running_var);

// rstd[c] = 1 / sqrt(var[c] + eps): var is the batch variance when training, running_var in eval mode.
template <class T>
void batch_norm_rstd(const T* var, T eps, int64_t C, T* rstd);

// y = (x - mean[c]) * rstd[c] * weight[c] + bias[c]   (weight / bias null -> 1 / 0)
template <class T>
void batch_norm_apply(const T* x, const T* mean, const T* rstd, const T* weight, const T* bias, int64_t B, int64_t C,
                      int64_t L, T* y);

// Gradient. With d = dy * weight and xhat = (x - mean) * rstd, sums over all (b, l) (padded outputs depend on the
// statistics too):
//   training: dx = rstd * (d - valid * (sum d + xhat * sum d * xhat) / n)    (valid = 0 on padded frames)
//   eval:     dx = rstd * d                                                  (statistics are constants)
//   dweight[c] = sum dy * xhat, dbias[c] = sum dy (written). Any output may be null.
template <class T>
void batch_norm_backward(const T* dy, const T* x, const uint8_t* pad_mask, const T* weight, const T* mean,
                         const T* rstd, bool training, int64_t n_valid, int64_t B, int64_t C, int64_t L, T* dx,
                         T* dweight, T* dbias);

}  // namespace hm::cpu
