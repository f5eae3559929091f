// CUDA convolutions, direct variant (`cuda_direct`): the readable reference kernels on the GPU, plus the small
// helper kernels the cuDNN variant shares (bias add / bias gradient, zero padding / cropping) and weight_norm.
// Raw device pointers + geometry, no Tensor (DESIGN.md 1); every launch runs on hm::cuda::stream().
//
// One geometry covers conv1d and conv2d: NCHW with groups. conv1d (B, Cin, L) is the H = 1 case
// (KH = 1, Hout = 1, pad_h = 0); conv2d is the groups = 1 case. The function (torch.nn.functional.conv2d):
//   y[b, co, oh, ow] = bias[co] + sum_{ci < Cin/groups, kh, kw} w[co, ci, kh, kw] *
//                      x[b, g*Cin/groups + ci, oh*sh + kh*dh - pad_h, ow*sw + kw*dw - pad_w],   g = co / (Cout/groups)
// with x = 0 outside [0, H) x [0, W). Only the top/left padding enters the formula; the bottom/right padding of
// an asymmetric (causal) conv is implied by Hout/Wout. Every kernel overwrites its outputs (no accumulation).
//
// Element types: f32 and f64 compute in their own type; bf16 buffers are read and written as bf16 with f32
// accumulation. All buffers of one call share the element type given by `Precision`.
#pragma once
#include <cstdint>

namespace hm::cuda {

enum class Precision : uint8_t { f32, f64, bf16 };

// x (B, Cin, H, W), w (Cout, Cin/groups, KH, KW), y (B, Cout, Hout, Wout), bias (Cout,).
struct ConvGeom {
  int64_t B = 0, Cin = 0, H = 1, W = 0;
  int64_t Cout = 0, KH = 1, KW = 0, Hout = 1, Wout = 0;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
  int64_t cin_g() const { return Cin / groups; }
  int64_t cout_g() const { return Cout / groups; }
};

// Direct convolution (one thread per output element of each pass; no atomics, so results are deterministic):
//   forward          y = conv(x, w) + bias (bias may be null)
//   backward_input   dx[b, ci, ih, iw] = sum over (co, kh, kw) with ih = oh*sh + kh*dh - pad_h (and the same in w)
//                    of w[co, ci, kh, kw] * dy[b, co, oh, ow]   (a gather: one thread per dx element)
//   backward_weight  dw[co, ci, kh, kw] = sum_{b, oh, ow} dy[b, co, oh, ow] * x[b, ., ih, iw] (one block per dw
//                    element, a block reduction), db[co] = sum_{b, oh, ow} dy[b, co, oh, ow] when db is not null.
void conv_direct_forward(const ConvGeom& g, Precision p, const void* x, const void* w, const void* bias, void* y);
void conv_direct_backward_input(const ConvGeom& g, Precision p, const void* dy, const void* w, void* dx);
void conv_direct_backward_weight(const ConvGeom& g, Precision p, const void* dy, const void* x, void* dw, void* db);

// y[b, c, n] += bias[c] for y (B, C, N).
void conv_bias_add(Precision p, void* y, const void* bias, int64_t B, int64_t C, int64_t N);
// db[c] = sum_{b, n} dy[b, c, n] for dy (B, C, N): one block per channel, a fixed-order reduction.
void conv_bias_grad(Precision p, const void* dy, int64_t B, int64_t C, int64_t N, void* db);

// Zero padding: xp (B*C, Hp, Wp) with xp[r, i, j] = x[r, i - top, j - left] inside x (H, W), else 0.
void conv_pad(Precision p, const void* x, int64_t rows, int64_t H, int64_t W, int64_t top, int64_t left, int64_t Hp,
              int64_t Wp, void* xp);
// The adjoint of conv_pad: dx (B*C, H, W) with dx[r, h, w] = dxp[r, h + top, w + left] where that lies inside
// dxp (Hp, Wp), else 0 (an input sample the padded buffer dropped gets no gradient).
void conv_crop(Precision p, const void* dxp, int64_t rows, int64_t Hp, int64_t Wp, int64_t top, int64_t left, int64_t H,
               int64_t W, void* dx);

// weight_norm (torch._weight_norm, norm_except_dim) over v viewed as (outer, D, inner); f32 and f64 only:
//   norm[d] = sqrt(sum_{o, i} v[o, d, i]^2),   w[o, d, i] = g[d] * v[o, d, i] / norm[d]
void weight_norm_forward(Precision p, const void* v, const void* g, int64_t outer, int64_t D, int64_t inner, void* w,
                         void* norm);
//   dot[d] = sum_{o, i} dw * v,  dg[d] = dot / norm[d],  dv = g[d] / norm[d] * (dw - v * dot / norm[d]^2)
// dv or dg may be null when that gradient is not needed.
void weight_norm_backward(Precision p, const void* dw, const void* v, const void* g, const void* norm, int64_t outer,
                          int64_t D, int64_t inner, void* dv, void* dg);

}  // namespace hm::cuda
