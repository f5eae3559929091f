// Convolution kernels (raw pointers + geometry, no Tensor; DESIGN.md 1). Three families:
//   * conv1d (PyTorch Conv1d semantics, with separate left/right zero padding for causal convs):
//       y[b, co, t] = bias[co] + sum_{ci < Cin/groups} sum_{k < K} w[co, ci, k] * x[b, g*Cin/groups + ci, t*s + k*d -
//       pl]
//     with g = co / (Cout/groups) and x = 0 outside [0, L). Variants: `scalar` (direct loops, any groups),
//     `im2col_blas` (im2col + cblas GEMM, any groups), and for depthwise convs (groups == Cin == Cout) `highway`
//     (direct SIMD over time).
//   * conv2d (groups = 1): the same formula over (H, W) with symmetric padding per spatial dim.
//   * weight_norm (torch.nn.utils.weight_norm): w = g * v / ||v||, the norm over every dim but `dim`.
// Every kernel overwrites its outputs (no accumulation), so callers may pass uninitialised buffers.
#pragma once
#include <cstdint>

namespace hm::cpu {

// Geometry of one conv1d call. x (B, Cin, L), w (Cout, Cin/groups, K), y (B, Cout, Lout) with
// Lout = (L + pad_left + pad_right - dilation*(K-1) - 1) / stride + 1; pad_right only enters through Lout.
struct Conv1dGeom {
  int64_t B = 0, Cin = 0, L = 0;
  int64_t Cout = 0, K = 0, Lout = 0;
  int64_t stride = 1, pad_left = 0, dilation = 1, groups = 1;
  int64_t cin_g() const { return Cin / groups; }
  int64_t cout_g() const { return Cout / groups; }
};

// Forward, gradient w.r.t. the input, gradient w.r.t. weight (and bias when db != nullptr).
template <class T>
struct Conv1dKernels {
  void (*forward)(const Conv1dGeom& g, const T* x, const T* w, const T* bias, T* y);  // bias may be null
  void (*backward_input)(const Conv1dGeom& g, const T* dy, const T* w, T* dx);
  void (*backward_weight)(const Conv1dGeom& g, const T* dy, const T* x, T* dw, T* db);  // db may be null
};
// One entry of a conv1d KernelTable: the same algorithm for both compute dtypes.
struct Conv1dVariant {
  Conv1dKernels<float> f32;
  Conv1dKernels<double> f64;
};

// Geometry of one conv2d call (groups = 1). x (B, Cin, H, W), w (Cout, Cin, KH, KW), y (B, Cout, Hout, Wout).
struct Conv2dGeom {
  int64_t B = 0, Cin = 0, H = 0, W = 0;
  int64_t Cout = 0, KH = 0, KW = 0, Hout = 0, Wout = 0;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;
};

template <class T>
struct Conv2dKernels {
  void (*forward)(const Conv2dGeom& g, const T* x, const T* w, const T* bias, T* y);
  void (*backward_input)(const Conv2dGeom& g, const T* dy, const T* w, T* dx);
  void (*backward_weight)(const Conv2dGeom& g, const T* dy, const T* x, T* dw, T* db);
};
struct Conv2dVariant {
  Conv2dKernels<float> f32;
  Conv2dKernels<double> f64;
};

// db[c] = sum_{b, t} dy[b, c, t] for dy (B, C, N): the bias gradient of both convs when the weight needs none.
template <class T>
void conv_bias_grad(const T* dy, int64_t B, int64_t C, int64_t N, T* db);

// The variants. Each returns the f32 and f64 kernels of one algorithm:
Conv1dVariant conv1d_scalar();             // cpu/conv_scalar.cpp: direct loops, the reference (any groups)
Conv1dVariant conv1d_im2col_blas();        // cpu/conv_im2col.cpp: im2col + cblas GEMM (any groups)
Conv1dVariant conv1d_depthwise_highway();  // cpu/conv_depthwise_hwy.cpp: groups == Cin == Cout only
Conv2dVariant conv2d_scalar();             // cpu/conv_scalar.cpp
Conv2dVariant conv2d_im2col_blas();        // cpu/conv_im2col.cpp

// weight_norm over v viewed as (outer, D, inner) where D = v.shape[dim] (cpu/conv_scalar.cpp):
//   norm[d] = sqrt(sum_{o, i} v[o, d, i]^2),  w[o, d, i] = g[d] * v[o, d, i] / norm[d]
// norm (D,) is an output kept for the backward pass.
template <class T>
void weight_norm_forward(const T* v, const T* g, int64_t outer, int64_t D, int64_t inner, T* w, T* norm);
// dg[d] = sum_{o,i} dw * v / norm[d];  dv = g[d] / norm[d] * (dw - v * (sum_{o,i} dw * v) / norm[d]^2).
// dv or dg may be null when that gradient is not needed.
template <class T>
void weight_norm_backward(const T* dw, const T* v, const T* g, const T* norm, int64_t outer, int64_t D, int64_t inner,
                          T* dv, T* dg);

}  // namespace hm::cpu
