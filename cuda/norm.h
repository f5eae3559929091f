// CUDA normalisation kernels (layer, group, batch norm): host launchers over raw DEVICE pointers + sizes, contiguous
// row-major buffers, launched on hm::cuda::stream() (DESIGN.md 1). T is float or double (explicit instantiations in
// cuda/norm.cu); every kernel computes in T. The formulas and buffer contracts are those of cpu/norm.h, so that the
// CPU functions are the conformance reference; the differences are noted per function. All parameter-gradient
// reductions are deterministic: fixed per-block partials summed by a second pass, no floating-point atomics.
// Plain C++ header (no CUDA types) so ops/norm_cuda.cpp can include it.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hm::cuda {

// ---- layer norm over the last dim of a (rows, C) matrix ------------------------------------------------------
// Forward: cpu::LayerNormForwardFn contract. "rowwise": one 256-thread block per row; "warp": one warp per row
// (8 rows per block; best for C up to a few thousand).
template <class T>
void layer_norm_forward_rowwise(const T* x, const T* weight, const T* bias, T eps, int64_t rows, int64_t C, T* y,
                                T* mean, T* rstd);
template <class T>
void layer_norm_forward_warp(const T* x, const T* weight, const T* bias, T eps, int64_t rows, int64_t C, T* y,
                             T* mean, T* rstd);

// Backward: cpu::LayerNormBackwardFn contract (dx written, dweight / dbias accumulated). dx by one block (rowwise)
// or one warp (warp) per row; dweight / dbias by per-row-chunk partials (128 chunks) and a fixed-order second pass.
template <class T>
void layer_norm_backward_rowwise(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd, int64_t rows,
                                 int64_t C, T* dx, T* dweight, T* dbias);
template <class T>
void layer_norm_backward_warp(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd, int64_t rows,
                              int64_t C, T* dx, T* dweight, T* dbias);

// ---- group norm on (B, C, L) with G groups (cpu::group_norm_forward / group_norm_backward contracts) -------------
// Forward: one block per (b, g). Backward: per-(b, c) partial sums (one block each), dx by one block per (b, g),
// dweight / dbias summed over b in a fixed order (ATen GroupNormKernel's ds / db buffers).
template <class T>
void group_norm_forward(const T* x, const T* weight, const T* bias, T eps, int64_t B, int64_t C, int64_t L, int64_t G,
                        T* y, T* mean, T* rstd);
template <class T>
void group_norm_backward(const T* dy, const T* x, const T* weight, const T* mean, const T* rstd, int64_t B, int64_t C,
                         int64_t L, int64_t G, T* dx, T* dweight, T* dbias);

// ---- batch norm on (B, C, L), statistics per channel over (B, L) -----------------------------------------------
// cpu::batch_norm_stats: returns the number of unpadded frames (counted on the device and copied back, so this
// synchronises with the stream when there is a mask). One block per channel, two passes (mean, then centred
// squares) over the unpadded frames.
template <class T>
int64_t batch_norm_stats(const T* x, const uint8_t* pad_mask, int64_t B, int64_t C, int64_t L, T* mean, T* var);
// cpu::batch_norm_update_running (n = n_valid > 1; unbiased running_var). Either running buffer may be null.
template <class T>
void batch_norm_update_running(const T* mean, const T* var, int64_t n, T momentum, int64_t C, T* running_mean,
                               T* running_var);
// cpu::batch_norm_rstd: rstd[c] = 1 / sqrt(var[c] + eps) (the batch variance, or running_var in eval mode)
template <class T>
void batch_norm_rstd(const T* var, T eps, int64_t C, T* rstd);
// cpu::batch_norm_apply
template <class T>
void batch_norm_apply(const T* x, const T* mean, const T* rstd, const T* weight, const T* bias, int64_t B, int64_t C,
                      int64_t L, T* y);
// cpu::batch_norm_backward: one block per channel.
template <class T>
void batch_norm_backward(const T* dy, const T* x, const uint8_t* pad_mask, const T* weight, const T* mean,
                         const T* rstd, bool training, int64_t n_valid, int64_t B, int64_t C, int64_t L, T* dx,
                         T* dweight, T* dbias);

}  // namespace hm::cuda
