// Scalar reference convolutions: the formulas of cpu/conv.h written as direct loops, serial, any groups.
// Every faster variant is checked against these (tests/test_conformance_conv.cpp); they are also the kernels
// small gradient checks run through.
#include <cmath>

#include "cpu/conv.h"
#include "cpu/parallel.h"

namespace hm::cpu {

// Shared by every variant (a reduction, not worth a variant of its own); parallel over channels.
template <class T>
void conv_bias_grad(const T* dy, int64_t B, int64_t C, int64_t N, T* db) {
  parallel_for(C, B * N, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      T s = 0;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < N; ++t) s += dy[(b * C + c) * N + t];
      db[c] = s;
    }
  });
}

namespace {

// torch.nn.functional.conv1d: y[b,co,t] = bias[co] + sum_{ci,k} w[co,ci,k] * x[b, g*cin_g+ci, t*s + k*d - pl]
template <class T>
void conv1d_forward(const Conv1dGeom& g, const T* x, const T* w, const T* bias, T* y) {
  const int64_t cin_g = g.cin_g(), cout_g = g.cout_g();
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t co = 0; co < g.Cout; ++co) {
      const int64_t ci0 = (co / cout_g) * cin_g;
      const T* wr = w + co * cin_g * g.K;  // (cin_g, K)
      T* yr = y + (b * g.Cout + co) * g.Lout;
      for (int64_t t = 0; t < g.Lout; ++t) {
        T acc = bias ? bias[co] : T(0);
        for (int64_t ci = 0; ci < cin_g; ++ci) {
          const T* xr = x + (b * g.Cin + ci0 + ci) * g.L;
          for (int64_t k = 0; k < g.K; ++k) {
            const int64_t i = t * g.stride + k * g.dilation - g.pad_left;
            if (i >= 0 && i < g.L) acc += wr[ci * g.K + k] * xr[i];
          }
        }
        yr[t] = acc;
      }
    }
}

// dx[b, ci, i] = sum over (co, t, k) with t*s + k*d - pl == i of w[co, ci, k] * dy[b, co, t]
template <class T>
void conv1d_backward_input(const Conv1dGeom& g, const T* dy, const T* w, T* dx) {
  const int64_t cin_g = g.cin_g(), cout_g = g.cout_g();
  for (int64_t n = 0; n < g.B * g.Cin * g.L; ++n) dx[n] = 0;
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t co = 0; co < g.Cout; ++co) {
      const int64_t ci0 = (co / cout_g) * cin_g;
      const T* dyr = dy + (b * g.Cout + co) * g.Lout;
      for (int64_t ci = 0; ci < cin_g; ++ci) {
        T* dxr = dx + (b * g.Cin + ci0 + ci) * g.L;
        const T* wr = w + (co * cin_g + ci) * g.K;
        for (int64_t t = 0; t < g.Lout; ++t)
          for (int64_t k = 0; k < g.K; ++k) {
            const int64_t i = t * g.stride + k * g.dilation - g.pad_left;
            if (i >= 0 && i < g.L) dxr[i] += wr[k] * dyr[t];
          }
      }
    }
}

// dw[co, ci, k] = sum_{b, t} dy[b, co, t] * x[b, g*cin_g+ci, t*s + k*d - pl];  db[co] = sum_{b, t} dy[b, co, t]
template <class T>
void conv1d_backward_weight(const Conv1dGeom& g, const T* dy, const T* x, T* dw, T* db) {
  const int64_t cin_g = g.cin_g(), cout_g = g.cout_g();
  for (int64_t co = 0; co < g.Cout; ++co) {
    const int64_t ci0 = (co / cout_g) * cin_g;
    for (int64_t ci = 0; ci < cin_g; ++ci)
      for (int64_t k = 0; k < g.K; ++k) {
        T acc = 0;
        for (int64_t b = 0; b < g.B; ++b) {
          const T* dyr = dy + (b * g.Cout + co) * g.Lout;
          const T* xr = x + (b * g.Cin + ci0 + ci) * g.L;
          for (int64_t t = 0; t < g.Lout; ++t) {
            const int64_t i = t * g.stride + k * g.dilation - g.pad_left;
            if (i >= 0 && i < g.L) acc += dyr[t] * xr[i];
          }
        }
        dw[(co * cin_g + ci) * g.K + k] = acc;
      }
  }
  if (db) conv_bias_grad(dy, g.B, g.Cout, g.Lout, db);
}

// torch.nn.functional.conv2d (groups = 1):
// y[b,co,oh,ow] = bias[co] + sum_{ci,kh,kw} w[co,ci,kh,kw] * x[b, ci, oh*sh + kh*dh - ph, ow*sw + kw*dw - pw]
template <class T>
void conv2d_forward(const Conv2dGeom& g, const T* x, const T* w, const T* bias, T* y) {
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t co = 0; co < g.Cout; ++co)
      for (int64_t oh = 0; oh < g.Hout; ++oh)
        for (int64_t ow = 0; ow < g.Wout; ++ow) {
          T acc = bias ? bias[co] : T(0);
          for (int64_t ci = 0; ci < g.Cin; ++ci)
            for (int64_t kh = 0; kh < g.KH; ++kh) {
              const int64_t ih = oh * g.stride_h + kh * g.dilation_h - g.pad_h;
              if (ih < 0 || ih >= g.H) continue;
              for (int64_t kw = 0; kw < g.KW; ++kw) {
                const int64_t iw = ow * g.stride_w + kw * g.dilation_w - g.pad_w;
                if (iw < 0 || iw >= g.W) continue;
                acc += w[((co * g.Cin + ci) * g.KH + kh) * g.KW + kw] * x[((b * g.Cin + ci) * g.H + ih) * g.W + iw];
              }
            }
          y[((b * g.Cout + co) * g.Hout + oh) * g.Wout + ow] = acc;
        }
}

template <class T>
void conv2d_backward_input(const Conv2dGeom& g, const T* dy, const T* w, T* dx) {
  for (int64_t n = 0; n < g.B * g.Cin * g.H * g.W; ++n) dx[n] = 0;
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t co = 0; co < g.Cout; ++co)
      for (int64_t oh = 0; oh < g.Hout; ++oh)
        for (int64_t ow = 0; ow < g.Wout; ++ow) {
          const T d = dy[((b * g.Cout + co) * g.Hout + oh) * g.Wout + ow];
          for (int64_t ci = 0; ci < g.Cin; ++ci)
            for (int64_t kh = 0; kh < g.KH; ++kh) {
              const int64_t ih = oh * g.stride_h + kh * g.dilation_h - g.pad_h;
              if (ih < 0 || ih >= g.H) continue;
              for (int64_t kw = 0; kw < g.KW; ++kw) {
                const int64_t iw = ow * g.stride_w + kw * g.dilation_w - g.pad_w;
                if (iw < 0 || iw >= g.W) continue;
                dx[((b * g.Cin + ci) * g.H + ih) * g.W + iw] += w[((co * g.Cin + ci) * g.KH + kh) * g.KW + kw] * d;
              }
            }
        }
}

template <class T>
void conv2d_backward_weight(const Conv2dGeom& g, const T* dy, const T* x, T* dw, T* db) {
  for (int64_t co = 0; co < g.Cout; ++co)
    for (int64_t ci = 0; ci < g.Cin; ++ci)
      for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          T acc = 0;
          for (int64_t b = 0; b < g.B; ++b)
            for (int64_t oh = 0; oh < g.Hout; ++oh) {
              const int64_t ih = oh * g.stride_h + kh * g.dilation_h - g.pad_h;
              if (ih < 0 || ih >= g.H) continue;
              for (int64_t ow = 0; ow < g.Wout; ++ow) {
                const int64_t iw = ow * g.stride_w + kw * g.dilation_w - g.pad_w;
                if (iw < 0 || iw >= g.W) continue;
                acc +=
                    dy[((b * g.Cout + co) * g.Hout + oh) * g.Wout + ow] * x[((b * g.Cin + ci) * g.H + ih) * g.W + iw];
              }
            }
          dw[((co * g.Cin + ci) * g.KH + kh) * g.KW + kw] = acc;
        }
  if (db) conv_bias_grad(dy, g.B, g.Cout, g.Hout * g.Wout, db);
}

}  // namespace

Conv1dVariant conv1d_scalar() {
  return {{conv1d_forward<float>, conv1d_backward_input<float>, conv1d_backward_weight<float>},
          {conv1d_forward<double>, conv1d_backward_input<double>, conv1d_backward_weight<double>}};
}

Conv2dVariant conv2d_scalar() {
  return {{conv2d_forward<float>, conv2d_backward_input<float>, conv2d_backward_weight<float>},
          {conv2d_forward<double>, conv2d_backward_input<double>, conv2d_backward_weight<double>}};
}

// torch._weight_norm (aten/src/ATen/native/WeightNorm.cpp, norm_except_dim): w = v * (g / ||v||).
template <class T>
void weight_norm_forward(const T* v, const T* g, int64_t outer, int64_t D, int64_t inner, T* w, T* norm) {
  for (int64_t d = 0; d < D; ++d) {
    T s = 0;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        const T a = v[(o * D + d) * inner + i];
        s += a * a;
      }
    norm[d] = std::sqrt(s);
  }
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t d = 0; d < D; ++d) {
      const T scale = g[d] / norm[d];
      for (int64_t i = 0; i < inner; ++i) w[(o * D + d) * inner + i] = v[(o * D + d) * inner + i] * scale;
    }
}

// ATen's _weight_norm_interface_backward (WeightNorm.cpp, weight_norm_backward):
//   dg = sum(dw * v) / norm;  dv = (g / norm) * (dw - v * sum(dw * v) / norm^2)
template <class T>
void weight_norm_backward(const T* dw, const T* v, const T* g, const T* norm, int64_t outer, int64_t D, int64_t inner,
                          T* dv, T* dg) {
  for (int64_t d = 0; d < D; ++d) {
    T dot = 0;  // sum_{o,i} dw * v
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) dot += dw[(o * D + d) * inner + i] * v[(o * D + d) * inner + i];
    if (dg) dg[d] = dot / norm[d];
    if (dv) {
      const T scale = g[d] / norm[d], proj = dot / (norm[d] * norm[d]);
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t n = (o * D + d) * inner + i;
          dv[n] = scale * (dw[n] - v[n] * proj);
        }
    }
  }
}

template void conv_bias_grad<float>(const float*, int64_t, int64_t, int64_t, float*);
template void conv_bias_grad<double>(const double*, int64_t, int64_t, int64_t, double*);
template void weight_norm_forward<float>(const float*, const float*, int64_t, int64_t, int64_t, float*, float*);
template void weight_norm_forward<double>(const double*, const double*, int64_t, int64_t, int64_t, double*, double*);
template void weight_norm_backward<float>(const float*, const float*, const float*, const float*, int64_t, int64_t,
                                          int64_t, float*, float*);
template void weight_norm_backward<double>(const double*, const double*, const double*, const double*, int64_t, int64_t,
                                           int64_t, double*, double*);

}  // namespace hm::cpu
