// Direct CUDA convolutions and the conv family's small kernels (cuda/conv_direct.h). Written for clarity: one
// thread per output element (forward, input gradient, padding), one block per reduced element (weight gradient,
// bias gradient, weight_norm) with a fixed-order shared-memory tree reduction, so every result is deterministic.
#include <cuda_bf16.h>

#include <type_traits>

#include "cuda/conv_direct.h"
#include "cuda/runtime.h"
#include "engine/error.h"

namespace hm::cuda {
namespace {

constexpr int kThreads = 256;  // a power of two (block_sum halves it)

// Accumulator type: f32 for f32 and bf16 buffers, f64 for f64.
template <class T>
struct AccOf {
  using type = float;
};
template <>
struct AccOf<double> {
  using type = double;
};
template <class T>
using Acc = typename AccOf<T>::type;

__device__ inline float load(const float* p, int64_t i) { return p[i]; }
__device__ inline double load(const double* p, int64_t i) { return p[i]; }
__device__ inline float load(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
__device__ inline void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ inline void store(double* p, int64_t i, double v) { p[i] = v; }
__device__ inline void store(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16(v); }

template <class T>
struct Tag {
  using type = T;
};

// f(Tag<T>{}) with T the element type of `p`.
template <class F>
void dispatch(Precision p, F&& f) {
  switch (p) {
    case Precision::f32:
      f(Tag<float>{});
      return;
    case Precision::f64:
      f(Tag<double>{});
      return;
    case Precision::bf16:
      f(Tag<__nv_bfloat16>{});
      return;
  }
  throw Error("cuda conv: unknown precision");
}

unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

// Sum of v over the block (blockDim.x == kThreads), returned to every thread; the order is fixed.
template <class A>
__device__ A block_sum(A v) {
  __shared__ A s[kThreads];
  s[threadIdx.x] = v;
  __syncthreads();
  for (int off = kThreads / 2; off > 0; off >>= 1) {
    if (int(threadIdx.x) < off) s[threadIdx.x] += s[threadIdx.x + off];
    __syncthreads();
  }
  const A r = s[0];
  __syncthreads();  // s may be reused by a later call
  return r;
}

// y[b, co, oh, ow] = bias[co] + sum_{ci, kh, kw} w[co, ci, kh, kw] * x[b, ci0 + ci, oh*sh + kh*dh - ph, ...]
template <class T>
__global__ void forward_kernel(ConvGeom g, const T* x, const T* w, const T* bias, T* y) {
  const int64_t n = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= g.B * g.Cout * g.Hout * g.Wout) return;
  const int64_t ow = n % g.Wout, oh = (n / g.Wout) % g.Hout, co = (n / (g.Wout * g.Hout)) % g.Cout;
  const int64_t b = n / (g.Wout * g.Hout * g.Cout);
  const int64_t cin_g = g.Cin / g.groups, ci0 = (co / (g.Cout / g.groups)) * cin_g;
  Acc<T> acc = bias ? load(bias, co) : Acc<T>(0);
  for (int64_t ci = 0; ci < cin_g; ++ci)
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      const int64_t ih = oh * g.stride_h + kh * g.dilation_h - g.pad_h;
      if (ih < 0 || ih >= g.H) continue;
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const int64_t iw = ow * g.stride_w + kw * g.dilation_w - g.pad_w;
        if (iw < 0 || iw >= g.W) continue;
        acc += load(w, ((co * cin_g + ci) * g.KH + kh) * g.KW + kw) *
               load(x, ((b * g.Cin + ci0 + ci) * g.H + ih) * g.W + iw);
      }
    }
  store(y, n, acc);
}

// dx[b, ci, ih, iw] = sum_{co in ci's group, kh, kw} w[co, ci - ci0, kh, kw] * dy[b, co, oh, ow] over the (oh, ow)
// with oh*sh + kh*dh - ph == ih and ow*sw + kw*dw - pw == iw (the input position each output tap read).
template <class T>
__global__ void backward_input_kernel(ConvGeom g, const T* dy, const T* w, T* dx) {
  const int64_t n = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= g.B * g.Cin * g.H * g.W) return;
  const int64_t iw = n % g.W, ih = (n / g.W) % g.H, ci = (n / (g.W * g.H)) % g.Cin, b = n / (g.W * g.H * g.Cin);
  const int64_t cin_g = g.Cin / g.groups, cout_g = g.Cout / g.groups;
  const int64_t grp = ci / cin_g, cil = ci - grp * cin_g;
  Acc<T> acc = 0;
  for (int64_t co = grp * cout_g; co < (grp + 1) * cout_g; ++co)
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      const int64_t th = ih + g.pad_h - kh * g.dilation_h;  // == oh * sh
      if (th < 0 || th % g.stride_h != 0 || th / g.stride_h >= g.Hout) continue;
      const int64_t oh = th / g.stride_h;
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const int64_t tw = iw + g.pad_w - kw * g.dilation_w;  // == ow * sw
        if (tw < 0 || tw % g.stride_w != 0 || tw / g.stride_w >= g.Wout) continue;
        const int64_t ow = tw / g.stride_w;
        acc += load(w, ((co * cin_g + cil) * g.KH + kh) * g.KW + kw) *
               load(dy, ((b * g.Cout + co) * g.Hout + oh) * g.Wout + ow);
      }
    }
  store(dx, n, acc);
}

// One block per dw element (co, ci, kh, kw): dw = sum_{b, oh, ow} dy[b, co, oh, ow] * x[b, ci0 + ci, ih, iw].
template <class T>
__global__ void backward_weight_kernel(ConvGeom g, const T* dy, const T* x, T* dw) {
  const int64_t e = blockIdx.x;  // index into dw (Cout, cin_g, KH, KW)
  const int64_t cin_g = g.Cin / g.groups;
  const int64_t kw = e % g.KW, kh = (e / g.KW) % g.KH, ci = (e / (g.KW * g.KH)) % cin_g, co = e / (g.KW * g.KH * cin_g);
  const int64_t ci0 = (co / (g.Cout / g.groups)) * cin_g;
  Acc<T> acc = 0;
  for (int64_t m = threadIdx.x; m < g.B * g.Hout * g.Wout; m += kThreads) {
    const int64_t ow = m % g.Wout, oh = (m / g.Wout) % g.Hout, b = m / (g.Wout * g.Hout);
    const int64_t ih = oh * g.stride_h + kh * g.dilation_h - g.pad_h;
    const int64_t iw = ow * g.stride_w + kw * g.dilation_w - g.pad_w;
    if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
    acc += load(dy, ((b * g.Cout + co) * g.Hout + oh) * g.Wout + ow) *
           load(x, ((b * g.Cin + ci0 + ci) * g.H + ih) * g.W + iw);
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) store(dw, e, acc);
}

// y (B, C, N): y[b, c, n] += bias[c]
template <class T>
__global__ void bias_add_kernel(T* y, const T* bias, int64_t C, int64_t N, int64_t total) {
  const int64_t n = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= total) return;
  store(y, n, load(y, n) + load(bias, (n / N) % C));
}

// One block per channel c: db[c] = sum_{b, n} dy[b, c, n]
template <class T>
__global__ void bias_grad_kernel(const T* dy, int64_t B, int64_t C, int64_t N, T* db) {
  const int64_t c = blockIdx.x;
  Acc<T> acc = 0;
  for (int64_t m = threadIdx.x; m < B * N; m += kThreads) acc += load(dy, ((m / N) * C + c) * N + m % N);
  acc = block_sum(acc);
  if (threadIdx.x == 0) store(db, c, acc);
}

// xp (rows, Hp, Wp) from x (rows, H, W) shifted by (top, left), zeros elsewhere.
template <class T>
__global__ void pad_kernel(const T* x, int64_t rows, int64_t H, int64_t W, int64_t top, int64_t left, int64_t Hp,
                           int64_t Wp, T* xp) {
  const int64_t n = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= rows * Hp * Wp) return;
  const int64_t j = n % Wp - left, i = (n / Wp) % Hp - top, r = n / (Wp * Hp);
  const bool inside = i >= 0 && i < H && j >= 0 && j < W;
  store(xp, n, inside ? load(x, (r * H + i) * W + j) : Acc<T>(0));
}

// dx (rows, H, W) = the (top, left)-shifted window of dxp (rows, Hp, Wp), zeros where the window leaves dxp.
template <class T>
__global__ void crop_kernel(const T* dxp, int64_t rows, int64_t Hp, int64_t Wp, int64_t top, int64_t left, int64_t H,
                            int64_t W, T* dx) {
  const int64_t n = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= rows * H * W) return;
  const int64_t j = n % W + left, i = (n / W) % H + top, r = n / (W * H);
  const bool inside = i < Hp && j < Wp;
  store(dx, n, inside ? load(dxp, (r * Hp + i) * Wp + j) : Acc<T>(0));
}

// One block per d: norm[d] = ||v[:, d, :]||, w[:, d, :] = g[d] / norm[d] * v[:, d, :]   (ATen WeightNorm.cpp)
template <class T>
__global__ void weight_norm_forward_kernel(const T* v, const T* g, int64_t outer, int64_t D, int64_t inner, T* w,
                                           T* norm) {
  const int64_t d = blockIdx.x;
  T s = 0;
  for (int64_t m = threadIdx.x; m < outer * inner; m += kThreads) {
    const T a = v[((m / inner) * D + d) * inner + m % inner];
    s += a * a;
  }
  const T nrm = sqrt(block_sum(s));
  if (threadIdx.x == 0) norm[d] = nrm;
  const T scale = g[d] / nrm;
  for (int64_t m = threadIdx.x; m < outer * inner; m += kThreads) {
    const int64_t idx = ((m / inner) * D + d) * inner + m % inner;
    w[idx] = v[idx] * scale;
  }
}

// One block per d: dot = sum dw * v; dg[d] = dot / norm; dv = g / norm * (dw - v * dot / norm^2)
template <class T>
__global__ void weight_norm_backward_kernel(const T* dw, const T* v, const T* g, const T* norm, int64_t outer,
                                            int64_t D, int64_t inner, T* dv, T* dg) {
  const int64_t d = blockIdx.x;
  T s = 0;
  for (int64_t m = threadIdx.x; m < outer * inner; m += kThreads) {
    const int64_t idx = ((m / inner) * D + d) * inner + m % inner;
    s += dw[idx] * v[idx];
  }
  const T dot = block_sum(s), nrm = norm[d];
  if (dg && threadIdx.x == 0) dg[d] = dot / nrm;
  if (!dv) return;
  const T scale = g[d] / nrm, proj = dot / (nrm * nrm);
  for (int64_t m = threadIdx.x; m < outer * inner; m += kThreads) {
    const int64_t idx = ((m / inner) * D + d) * inner + m % inner;
    dv[idx] = scale * (dw[idx] - v[idx] * proj);
  }
}

template <class T>
const T* cp(const void* p) {
  return static_cast<const T*>(p);
}
template <class T>
T* mp(void* p) {
  return static_cast<T*>(p);
}

}  // namespace

void conv_direct_forward(const ConvGeom& g, Precision p, const void* x, const void* w, const void* bias, void* y) {
  const int64_t n = g.B * g.Cout * g.Hout * g.Wout;
  if (n == 0) return;
  dispatch(p, [&](auto tag) {
    using T = typename decltype(tag)::type;
    forward_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(g, cp<T>(x), cp<T>(w), cp<T>(bias), mp<T>(y));
  });
  check_launch("conv_direct_forward");
}

void conv_direct_backward_input(const ConvGeom& g, Precision p, const void* dy, const void* w, void* dx) {
  const int64_t n = g.B * g.Cin * g.H * g.W;
  if (n == 0) return;
  dispatch(p, [&](auto tag) {
    using T = typename decltype(tag)::type;
    backward_input_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(g, cp<T>(dy), cp<T>(w), mp<T>(dx));
  });
  check_launch("conv_direct_backward_input");
}

void conv_direct_backward_weight(const ConvGeom& g, Precision p, const void* dy, const void* x, void* dw, void* db) {
  const int64_t n = g.Cout * g.cin_g() * g.KH * g.KW;  // one block per dw element
  if (n > 0) {
    dispatch(p, [&](auto tag) {
      using T = typename decltype(tag)::type;
      backward_weight_kernel<T><<<static_cast<unsigned>(n), kThreads, 0, stream()>>>(g, cp<T>(dy), cp<T>(x), mp<T>(dw));
    });
    check_launch("conv_direct_backward_weight");
  }
  if (db) conv_bias_grad(p, dy, g.B, g.Cout, g.Hout * g.Wout, db);
}

void conv_bias_add(Precision p, void* y, const void* bias, int64_t B, int64_t C, int64_t N) {
  const int64_t total = B * C * N;
  if (total == 0) return;
  dispatch(p, [&](auto tag) {
    using T = typename decltype(tag)::type;
    bias_add_kernel<T><<<blocks_for(total), kThreads, 0, stream()>>>(mp<T>(y), cp<T>(bias), C, N, total);
  });
  check_launch("conv_bias_add");
}

void conv_bias_grad(Precision p, const void* dy, int64_t B, int64_t C, int64_t N, void* db) {
  if (C == 0) return;
  dispatch(p, [&](auto tag) {
    using T = typename decltype(tag)::type;
    bias_grad_kernel<T><<<static_cast<unsigned>(C), kThreads, 0, stream()>>>(cp<T>(dy), B, C, N, mp<T>(db));
  });
  check_launch("conv_bias_grad");
}

void conv_pad(Precision p, const void* x, int64_t rows, int64_t H, int64_t W, int64_t top, int64_t left, int64_t Hp,
              int64_t Wp, void* xp) {
  const int64_t n = rows * Hp * Wp;
  if (n == 0) return;
  dispatch(p, [&](auto tag) {
    using T = typename decltype(tag)::type;
    pad_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(cp<T>(x), rows, H, W, top, left, Hp, Wp, mp<T>(xp));
  });
  check_launch("conv_pad");
}

void conv_crop(Precision p, const void* dxp, int64_t rows, int64_t Hp, int64_t Wp, int64_t top, int64_t left, int64_t H,
               int64_t W, void* dx) {
  const int64_t n = rows * H * W;
  if (n == 0) return;
  dispatch(p, [&](auto tag) {
    using T = typename decltype(tag)::type;
    crop_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(cp<T>(dxp), rows, Hp, Wp, top, left, H, W, mp<T>(dx));
  });
  check_launch("conv_crop");
}

void weight_norm_forward(Precision p, const void* v, const void* g, int64_t outer, int64_t D, int64_t inner, void* w,
                         void* norm) {
  hm::check(p != Precision::bf16, "cuda weight_norm: bf16 is not supported (keep weights in f32)");
  if (D == 0) return;
  dispatch(p, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, __nv_bfloat16>)
      weight_norm_forward_kernel<T><<<static_cast<unsigned>(D), kThreads, 0, stream()>>>(cp<T>(v), cp<T>(g), outer, D,
                                                                                         inner, mp<T>(w), mp<T>(norm));
  });
  check_launch("weight_norm_forward");
}

void weight_norm_backward(Precision p, const void* dw, const void* v, const void* g, const void* norm, int64_t outer,
                          int64_t D, int64_t inner, void* dv, void* dg) {
  hm::check(p != Precision::bf16, "cuda weight_norm: bf16 is not supported (keep weights in f32)");
  if (D == 0) return;
  dispatch(p, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, __nv_bfloat16>)
      weight_norm_backward_kernel<T><<<static_cast<unsigned>(D), kThreads, 0, stream()>>>(
          cp<T>(dw), cp<T>(v), cp<T>(g), cp<T>(norm), outer, D, inner, mp<T>(dv), mp<T>(dg));
  });
  check_launch("weight_norm_backward");
}

}  // namespace hm::cuda
