// Convolution as GEMM (Chellapilla, Puri & Simard 2006; the scheme of Caffe and ATen's slow_conv2d):
//   im2col:  col[(ci, k), t] = x[ci, t*s + k*d - pl]             (Cin_g*K, Lout) per batch and group
//   forward: Y_g (Cout_g, Lout) = W_g (Cout_g, Cin_g*K) @ col
//   dW_g    += dY_g @ col^T                                        summed over the batch
//   dcol     = W_g^T @ dY_g,  then col2im scatters dcol back onto dx (the adjoint of im2col)
// GEMMs go straight to OpenBLAS (cblas_sgemm/dgemm), which runs them on its own thread pool. im2col/col2im stay
// on the calling thread: they move one element per 2*Cout_g GEMM flops (< 1% of the time for the HuBERT stem and
// positional conv), and an OpenMP region between two GEMMs makes OpenMP's workers and OpenBLAS's (pthread build)
// spin against each other for the same cores: on the shared 2-core VM, stem layer 0 (bench_conv, 2 threads) took
// 210-300 ms forward / 520-720 ms forward+backward with an OpenMP im2col and 70-90 / 240-340 ms without.
// Long sequences are tiled over time so col stays a few MB.
#include <cblas.h>

#include <algorithm>
#include <vector>

#include "cpu/conv.h"

namespace hm::cpu {
namespace {

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, int(M), int(N), int(K), 1.0f, A, int(lda), B, int(ldb), beta, C, int(ldc));
}
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, const double* A, int64_t lda,
          const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, int(M), int(N), int(K), 1.0, A, int(lda), B, int(ldb), beta, C, int(ldc));
}

// y (M,) += A (M, N) @ ones (N,): the bias gradient as a BLAS call, so the backward pass never leaves OpenBLAS.
void row_sums_add(int64_t M, int64_t N, const float* A, int64_t lda, const float* ones, float* y) {
  cblas_sgemv(CblasRowMajor, CblasNoTrans, int(M), int(N), 1.0f, A, int(lda), ones, 1, 1.0f, y, 1);
}
void row_sums_add(int64_t M, int64_t N, const double* A, int64_t lda, const double* ones, double* y) {
  cblas_dgemv(CblasRowMajor, CblasNoTrans, int(M), int(N), 1.0, A, int(lda), ones, 1, 1.0, y, 1);
}

// Indices j in [0, n) whose input position start + j*step (step >= 1) lies in [0, len): returns [lo, hi).
struct Range {
  int64_t lo, hi;
};
Range valid_range(int64_t start, int64_t step, int64_t n, int64_t len) {
  int64_t lo = start >= 0 ? 0 : (-start + step - 1) / step;
  int64_t hi = start >= len ? 0 : (len - 1 - start) / step + 1;
  lo = std::min(lo, n);
  hi = std::clamp(hi, lo, n);
  return {lo, hi};
}

// ---------------------------------------------------------------------------------------------------- conv1d

// Columns per tile: keep col (Cin_g*K, nt) around 4 MB of floats, but never so narrow that GEMM suffers.
int64_t time_tile(const Conv1dGeom& g) {
  const int64_t rows = g.cin_g() * g.K;
  return std::min(g.Lout, std::max<int64_t>(256, (int64_t(1) << 20) / std::max<int64_t>(rows, 1)));
}

// A 1x1 conv with stride 1, no left pad and no right pad beyond L is a plain GEMM on x: col is x itself.
bool is_pointwise(const Conv1dGeom& g) { return g.K == 1 && g.stride == 1 && g.pad_left == 0 && g.Lout <= g.L; }

// col (Cin_g*K, nt) = im2col of xg (Cin_g, L) for output times [t0, t0 + nt).
template <class T>
void im2col_1d(const Conv1dGeom& g, const T* xg, int64_t t0, int64_t nt, T* col) {
  for (int64_t r = 0; r < g.cin_g() * g.K; ++r) {
    const int64_t ci = r / g.K, k = r % g.K;
    const T* xr = xg + ci * g.L;
    T* cr = col + r * nt;
    const int64_t start = t0 * g.stride + k * g.dilation - g.pad_left;  // input position of column 0
    const Range v = valid_range(start, g.stride, nt, g.L);
    std::fill(cr, cr + v.lo, T(0));
    for (int64_t j = v.lo; j < v.hi; ++j) cr[j] = xr[start + j * g.stride];
    std::fill(cr + v.hi, cr + nt, T(0));
  }
}

// dxg (Cin_g, L) += col2im(dcol (Cin_g*K, nt)) for output times [t0, t0 + nt).
template <class T>
void col2im_1d(const Conv1dGeom& g, const T* dcol, int64_t t0, int64_t nt, T* dxg) {
  for (int64_t ci = 0; ci < g.cin_g(); ++ci) {
    T* dxr = dxg + ci * g.L;
    for (int64_t k = 0; k < g.K; ++k) {
      const T* cr = dcol + (ci * g.K + k) * nt;
      const int64_t start = t0 * g.stride + k * g.dilation - g.pad_left;
      const Range v = valid_range(start, g.stride, nt, g.L);
      for (int64_t j = v.lo; j < v.hi; ++j) dxr[start + j * g.stride] += cr[j];
    }
  }
}

template <class T>
void conv1d_forward(const Conv1dGeom& g, const T* x, const T* w, const T* bias, T* y) {
  const int64_t cin_g = g.cin_g(), cout_g = g.cout_g(), rows = cin_g * g.K, tile = time_tile(g);
  const bool pointwise = is_pointwise(g);
  std::vector<T> col(pointwise ? 0 : size_t(rows * tile));  // (Cin_g*K, tile)
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* xg = x + (b * g.Cin + grp * cin_g) * g.L;  // (Cin_g, L)
      const T* wg = w + grp * cout_g * rows;              // (Cout_g, Cin_g*K)
      T* yg = y + (b * g.Cout + grp * cout_g) * g.Lout;   // (Cout_g, Lout)
      for (int64_t t0 = 0; t0 < g.Lout; t0 += tile) {
        const int64_t nt = std::min(tile, g.Lout - t0);
        if (bias)
          for (int64_t co = 0; co < cout_g; ++co) std::fill_n(yg + co * g.Lout + t0, nt, bias[grp * cout_g + co]);
        if (pointwise) {
          gemm(CblasNoTrans, CblasNoTrans, cout_g, nt, rows, wg, rows, xg + t0, g.L, bias ? T(1) : T(0), yg + t0,
               g.Lout);
        } else {
          im2col_1d(g, xg, t0, nt, col.data());
          gemm(CblasNoTrans, CblasNoTrans, cout_g, nt, rows, wg, rows, col.data(), nt, bias ? T(1) : T(0), yg + t0,
               g.Lout);
        }
      }
    }
}

template <class T>
void conv1d_backward_input(const Conv1dGeom& g, const T* dy, const T* w, T* dx) {
  const int64_t cin_g = g.cin_g(), cout_g = g.cout_g(), rows = cin_g * g.K, tile = time_tile(g);
  const bool pointwise = is_pointwise(g);
  std::fill(dx, dx + g.B * g.Cin * g.L, T(0));
  std::vector<T> dcol(pointwise ? 0 : size_t(rows * tile));  // (Cin_g*K, tile)
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      T* dxg = dx + (b * g.Cin + grp * cin_g) * g.L;             // (Cin_g, L)
      const T* wg = w + grp * cout_g * rows;                     // (Cout_g, Cin_g*K)
      const T* dyg = dy + (b * g.Cout + grp * cout_g) * g.Lout;  // (Cout_g, Lout)
      for (int64_t t0 = 0; t0 < g.Lout; t0 += tile) {
        const int64_t nt = std::min(tile, g.Lout - t0);
        if (pointwise) {
          gemm(CblasTrans, CblasNoTrans, rows, nt, cout_g, wg, rows, dyg + t0, g.Lout, T(0), dxg + t0, g.L);
        } else {
          gemm(CblasTrans, CblasNoTrans, rows, nt, cout_g, wg, rows, dyg + t0, g.Lout, T(0), dcol.data(), nt);
          col2im_1d(g, dcol.data(), t0, nt, dxg);
        }
      }
    }
}

template <class T>
void conv1d_backward_weight(const Conv1dGeom& g, const T* dy, const T* x, T* dw, T* db) {
  const int64_t cin_g = g.cin_g(), cout_g = g.cout_g(), rows = cin_g * g.K, tile = time_tile(g);
  const bool pointwise = is_pointwise(g);
  std::fill(dw, dw + g.Cout * rows, T(0));
  if (db) std::fill(db, db + g.Cout, T(0));
  std::vector<T> col(pointwise ? 0 : size_t(rows * tile));  // (Cin_g*K, tile)
  const std::vector<T> ones(size_t(db ? tile : 0), T(1));   // (tile,)
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* xg = x + (b * g.Cin + grp * cin_g) * g.L;         // (Cin_g, L)
      T* dwg = dw + grp * cout_g * rows;                         // (Cout_g, Cin_g*K)
      const T* dyg = dy + (b * g.Cout + grp * cout_g) * g.Lout;  // (Cout_g, Lout)
      for (int64_t t0 = 0; t0 < g.Lout; t0 += tile) {
        const int64_t nt = std::min(tile, g.Lout - t0);
        const T* c = xg + t0;
        int64_t ldc = g.L;
        if (!pointwise) {
          im2col_1d(g, xg, t0, nt, col.data());
          c = col.data(), ldc = nt;
        }
        gemm(CblasNoTrans, CblasTrans, cout_g, rows, nt, dyg + t0, g.Lout, c, ldc, T(1), dwg, rows);
        if (db) row_sums_add(cout_g, nt, dyg + t0, g.Lout, ones.data(), db + grp * cout_g);
      }
    }
}

// ---------------------------------------------------------------------------------------------------- conv2d

// col (Cin*KH*KW, Hout*Wout) = im2col of xb (Cin, H, W).
template <class T>
void im2col_2d(const Conv2dGeom& g, const T* xb, T* col) {
  const int64_t kk = g.KH * g.KW, n = g.Hout * g.Wout;
  for (int64_t r = 0; r < g.Cin * kk; ++r) {
    const int64_t ci = r / kk, kh = (r % kk) / g.KW, kw = r % g.KW;
    const int64_t start_w = kw * g.dilation_w - g.pad_w;
    const Range vw = valid_range(start_w, g.stride_w, g.Wout, g.W);
    for (int64_t oh = 0; oh < g.Hout; ++oh) {
      T* cr = col + r * n + oh * g.Wout;
      const int64_t ih = oh * g.stride_h + kh * g.dilation_h - g.pad_h;
      if (ih < 0 || ih >= g.H) {
        std::fill(cr, cr + g.Wout, T(0));
        continue;
      }
      const T* xr = xb + (ci * g.H + ih) * g.W;
      std::fill(cr, cr + vw.lo, T(0));
      for (int64_t ow = vw.lo; ow < vw.hi; ++ow) cr[ow] = xr[start_w + ow * g.stride_w];
      std::fill(cr + vw.hi, cr + g.Wout, T(0));
    }
  }
}

// dxb (Cin, H, W) += col2im(dcol).
template <class T>
void col2im_2d(const Conv2dGeom& g, const T* dcol, T* dxb) {
  const int64_t n = g.Hout * g.Wout;
  for (int64_t ci = 0; ci < g.Cin; ++ci)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const T* cr = dcol + ((ci * g.KH + kh) * g.KW + kw) * n;
        const int64_t start_w = kw * g.dilation_w - g.pad_w;
        const Range vw = valid_range(start_w, g.stride_w, g.Wout, g.W);
        for (int64_t oh = 0; oh < g.Hout; ++oh) {
          const int64_t ih = oh * g.stride_h + kh * g.dilation_h - g.pad_h;
          if (ih < 0 || ih >= g.H) continue;
          T* dxr = dxb + (ci * g.H + ih) * g.W;
          for (int64_t ow = vw.lo; ow < vw.hi; ++ow) dxr[start_w + ow * g.stride_w] += cr[oh * g.Wout + ow];
        }
      }
}

template <class T>
void conv2d_forward(const Conv2dGeom& g, const T* x, const T* w, const T* bias, T* y) {
  const int64_t rows = g.Cin * g.KH * g.KW, n = g.Hout * g.Wout;
  std::vector<T> col(size_t(rows * n));  // (Cin*KH*KW, Hout*Wout)
  for (int64_t b = 0; b < g.B; ++b) {
    T* yb = y + b * g.Cout * n;  // (Cout, Hout*Wout)
    if (bias)
      for (int64_t co = 0; co < g.Cout; ++co) std::fill_n(yb + co * n, n, bias[co]);
    im2col_2d(g, x + b * g.Cin * g.H * g.W, col.data());
    gemm(CblasNoTrans, CblasNoTrans, g.Cout, n, rows, w, rows, col.data(), n, bias ? T(1) : T(0), yb, n);
  }
}

template <class T>
void conv2d_backward_input(const Conv2dGeom& g, const T* dy, const T* w, T* dx) {
  const int64_t rows = g.Cin * g.KH * g.KW, n = g.Hout * g.Wout, hw = g.H * g.W;
  std::fill(dx, dx + g.B * g.Cin * hw, T(0));
  std::vector<T> dcol(size_t(rows * n));  // (Cin*KH*KW, Hout*Wout)
  for (int64_t b = 0; b < g.B; ++b) {
    gemm(CblasTrans, CblasNoTrans, rows, n, g.Cout, w, rows, dy + b * g.Cout * n, n, T(0), dcol.data(), n);
    col2im_2d(g, dcol.data(), dx + b * g.Cin * hw);
  }
}

template <class T>
void conv2d_backward_weight(const Conv2dGeom& g, const T* dy, const T* x, T* dw, T* db) {
  const int64_t rows = g.Cin * g.KH * g.KW, n = g.Hout * g.Wout;
  std::fill(dw, dw + g.Cout * rows, T(0));
  if (db) std::fill(db, db + g.Cout, T(0));
  std::vector<T> col(size_t(rows * n));                 // (Cin*KH*KW, Hout*Wout)
  const std::vector<T> ones(size_t(db ? n : 0), T(1));  // (Hout*Wout,)
  for (int64_t b = 0; b < g.B; ++b) {
    im2col_2d(g, x + b * g.Cin * g.H * g.W, col.data());
    gemm(CblasNoTrans, CblasTrans, g.Cout, rows, n, dy + b * g.Cout * n, n, col.data(), n, T(1), dw, rows);
    if (db) row_sums_add(g.Cout, n, dy + b * g.Cout * n, n, ones.data(), db);
  }
}

}  // namespace

Conv1dVariant conv1d_im2col_blas() {
  return {{conv1d_forward<float>, conv1d_backward_input<float>, conv1d_backward_weight<float>},
          {conv1d_forward<double>, conv1d_backward_input<double>, conv1d_backward_weight<double>}};
}

Conv2dVariant conv2d_im2col_blas() {
  return {{conv2d_forward<float>, conv2d_backward_input<float>, conv2d_backward_weight<float>},
          {conv2d_forward<double>, conv2d_backward_input<double>, conv2d_backward_weight<double>}};
}

}  // namespace hm::cpu
