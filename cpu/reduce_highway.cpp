// Highway kernels: row / column reductions (sum, max) and row softmax / log_softmax / logsumexp with their
// backward. Reference semantics in cpu/elementwise_scalar.cpp; accumulation order in cpu/elementwise_highway.h.
#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/elementwise_highway.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/reduce_highway.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// Order matters: foreach_target re-includes this file once per target before highway.h.
#include "cpu/hwy_math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace hm::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The vector at x + i, or for a final partial vector (n - i < lanes) a copy padded with `pad`.
template <class D, class T = hn::TFromD<D>>
HWY_INLINE hn::Vec<D> LoadPadded(D d, const T* x, int64_t i, int64_t n, T pad) {
  if (i + int64_t(hn::Lanes(d)) <= n) return hn::LoadU(d, x + i);
  HWY_ALIGN T buf[hn::MaxLanes(d)];
  std::fill(buf, buf + hn::MaxLanes(d), pad);
  std::copy(x + i, x + n, buf);
  return hn::Load(d, buf);
}

// Store the first min(lanes, n - i) lanes of v at out + i.
template <class D, class T = hn::TFromD<D>>
HWY_INLINE void StorePartial(D d, hn::Vec<D> v, T* out, int64_t i, int64_t n) {
  if (i + int64_t(hn::Lanes(d)) <= n) return hn::StoreU(v, d, out + i);
  HWY_ALIGN T buf[hn::MaxLanes(d)];
  hn::Store(v, d, buf);
  std::copy(buf, buf + (n - i), out + i);
}

// NaN-propagating lane-wise max, as the scalar reference's max_nan: (isnan(x) || x > m) ? x : m.
template <class V>
HWY_INLINE V MaxNan(V m, V x) {
  return hn::IfThenElse(hn::Or(hn::IsNaN(x), hn::Gt(x, m)), x, m);
}

template <class D, class T = hn::TFromD<D>>
HWY_INLINE T ReduceLanesMaxNan(D d, hn::Vec<D> v) {
  HWY_ALIGN T lanes[hn::MaxLanes(d)];
  hn::Store(v, d, lanes);
  T m = lanes[0];
  for (size_t k = 1; k < hn::Lanes(d); ++k) m = (std::isnan(lanes[k]) || lanes[k] > m) ? lanes[k] : m;
  return m;
}

// Sum of x[0, n): four vector accumulators, the partial last vector padded with 0, lanes summed at the end.
template <class D, class T = hn::TFromD<D>>
HWY_INLINE T RowSum(D d, const T* x, int64_t n) {
  const int64_t N = int64_t(hn::Lanes(d));
  hn::Vec<D> s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    s0 = hn::Add(s0, hn::LoadU(d, x + i));
    s1 = hn::Add(s1, hn::LoadU(d, x + i + N));
    s2 = hn::Add(s2, hn::LoadU(d, x + i + 2 * N));
    s3 = hn::Add(s3, hn::LoadU(d, x + i + 3 * N));
  }
  for (; i < n; i += N) s0 = hn::Add(s0, LoadPadded(d, x, i, n, T(0)));
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
}

template <class D, class T = hn::TFromD<D>>
HWY_INLINE T RowMax(D d, const T* x, int64_t n) {
  const int64_t N = int64_t(hn::Lanes(d));
  const T neg_inf = -std::numeric_limits<T>::infinity();
  hn::Vec<D> m0 = hn::Set(d, neg_inf), m1 = m0;
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    m0 = MaxNan(m0, hn::LoadU(d, x + i));
    m1 = MaxNan(m1, hn::LoadU(d, x + i + N));
  }
  for (; i < n; i += N) m0 = MaxNan(m0, LoadPadded(d, x, i, n, neg_inf));
  return ReduceLanesMaxNan(d, MaxNan(m0, m1));
}

template <class T>
void ReduceRowsImpl(ReduceOp op, const T* x, T* out, int64_t rows, int64_t cols) {
  const hn::ScalableTag<T> d;
  for (int64_t r = 0; r < rows; ++r)
    out[r] = op == ReduceOp::sum ? RowSum(d, x + r * cols, cols) : RowMax(d, x + r * cols, cols);
}

// out[c] = reduce_r x[r * ld + c], accumulated directly in `out` one row at a time so that the reads stream
// sequentially. Each column is combined in row order, vector lanes and the scalar tail alike, so a column's value
// does not depend on its position (nor on how the caller splits the columns).
template <class T>
void ReduceColsImpl(ReduceOp op, const T* x, T* out, int64_t rows, int64_t cols, int64_t ld) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t N = int64_t(hn::Lanes(d));
  const bool sum = op == ReduceOp::sum;
  std::fill(out, out + cols, sum ? T(0) : -std::numeric_limits<T>::infinity());
  const auto row_loop = [&](auto combine, auto combine_scalar) {
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = x + r * ld;
      int64_t c = 0;
      for (; c + 2 * N <= cols; c += 2 * N) {
        const V a0 = combine(hn::LoadU(d, out + c), hn::LoadU(d, row + c));
        const V a1 = combine(hn::LoadU(d, out + c + N), hn::LoadU(d, row + c + N));
        hn::StoreU(a0, d, out + c);
        hn::StoreU(a1, d, out + c + N);
      }
      for (; c + N <= cols; c += N) hn::StoreU(combine(hn::LoadU(d, out + c), hn::LoadU(d, row + c)), d, out + c);
      for (; c < cols; ++c) out[c] = combine_scalar(out[c], row[c]);
    }
  };
  if (sum)
    row_loop([](V a, V v) HWY_ATTR { return hn::Add(a, v); }, [](T a, T v) { return a + v; });
  else
    row_loop([](V a, V v) HWY_ATTR { return MaxNan(a, v); }, [](T a, T v) { return (std::isnan(v) || v > a) ? v : a; });
}

template <class T>
void SoftmaxImpl(SoftmaxOp op, const T* x, T* y, int64_t rows, int64_t cols) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t N = int64_t(hn::Lanes(d));
  const T neg_inf = -std::numeric_limits<T>::infinity();
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    const T m = RowMax(d, xr, cols);
    const T shift = std::isinf(m) ? T(0) : m;  // torch.logsumexp: masked_fill(maxes.abs() == inf, 0)
    const V vshift = hn::Set(d, shift);
    // sum_c exp(x - shift); the padding is -inf, whose exp is 0. softmax keeps the exponentials in y.
    V s0 = hn::Zero(d), s1 = hn::Zero(d);
    int64_t i = 0;
    for (; i + 2 * N <= cols; i += 2 * N) {
      const V e0 = ExpFull(d, hn::Sub(hn::LoadU(d, xr + i), vshift));
      const V e1 = ExpFull(d, hn::Sub(hn::LoadU(d, xr + i + N), vshift));
      if (op == SoftmaxOp::softmax) {
        hn::StoreU(e0, d, y + r * cols + i);
        hn::StoreU(e1, d, y + r * cols + i + N);
      }
      s0 = hn::Add(s0, e0);
      s1 = hn::Add(s1, e1);
    }
    for (; i < cols; i += N) {
      const V e = ExpFull(d, hn::Sub(LoadPadded(d, xr, i, cols, neg_inf), vshift));
      if (op == SoftmaxOp::softmax) StorePartial(d, e, y + r * cols, i, cols);
      s0 = hn::Add(s0, e);
    }
    const T sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
    const T lse = shift + std::log(sum);
    if (op == SoftmaxOp::logsumexp) {
      y[r] = lse;
    } else if (op == SoftmaxOp::softmax) {
      const V inv = hn::Set(d, T(1) / sum);
      for (int64_t c = 0; c < cols; c += N)
        StorePartial(d, hn::Mul(LoadPadded(d, y + r * cols, c, cols, T(0)), inv), y + r * cols, c, cols);
    } else {
      const V vlse = hn::Set(d, lse);
      for (int64_t c = 0; c < cols; c += N)
        StorePartial(d, hn::Sub(LoadPadded(d, xr, c, cols, T(0)), vlse), y + r * cols, c, cols);
    }
  }
}

template <class T>
void SoftmaxBackwardImpl(SoftmaxOp op, const T* y, const T* gy, T* gx, int64_t rows, int64_t cols) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t N = int64_t(hn::Lanes(d));
  for (int64_t r = 0; r < rows; ++r) {
    const T* yr = y + r * cols;
    const T* gr = gy + r * cols;
    T* out = gx + r * cols;
    if (op == SoftmaxOp::softmax) {  // gx = y (gy - sum(gy y))
      V acc = hn::Zero(d);
      for (int64_t c = 0; c < cols; c += N)
        acc = hn::MulAdd(LoadPadded(d, gr, c, cols, T(0)), LoadPadded(d, yr, c, cols, T(0)), acc);
      const V dot = hn::Set(d, hn::GetLane(hn::SumOfLanes(d, acc)));
      for (int64_t c = 0; c < cols; c += N) {
        const V v = LoadPadded(d, yr, c, cols, T(0));
        StorePartial(d, hn::Mul(v, hn::Sub(LoadPadded(d, gr, c, cols, T(0)), dot)), out, c, cols);
      }
    } else {  // log_softmax: gx = gy - exp(y) sum(gy)
      const V total = hn::Set(d, RowSum(d, gr, cols));
      for (int64_t c = 0; c < cols; c += N) {
        const V e = ExpFull(d, LoadPadded(d, yr, c, cols, T(0)));
        StorePartial(d, hn::NegMulAdd(e, total, LoadPadded(d, gr, c, cols, T(0))), out, c, cols);
      }
    }
  }
}

void ReduceRowsF32(ReduceOp op, const float* x, float* out, int64_t rows, int64_t cols) {
  ReduceRowsImpl(op, x, out, rows, cols);
}
void ReduceRowsF64(ReduceOp op, const double* x, double* out, int64_t rows, int64_t cols) {
  ReduceRowsImpl(op, x, out, rows, cols);
}
void ReduceColsF32(ReduceOp op, const float* x, float* out, int64_t rows, int64_t cols, int64_t ld) {
  ReduceColsImpl(op, x, out, rows, cols, ld);
}
void ReduceColsF64(ReduceOp op, const double* x, double* out, int64_t rows, int64_t cols, int64_t ld) {
  ReduceColsImpl(op, x, out, rows, cols, ld);
}
void SoftmaxF32(SoftmaxOp op, const float* x, float* y, int64_t rows, int64_t cols) {
  SoftmaxImpl(op, x, y, rows, cols);
}
void SoftmaxF64(SoftmaxOp op, const double* x, double* y, int64_t rows, int64_t cols) {
  SoftmaxImpl(op, x, y, rows, cols);
}
void SoftmaxBackwardF32(SoftmaxOp op, const float* y, const float* gy, float* gx, int64_t rows, int64_t cols) {
  SoftmaxBackwardImpl(op, y, gy, gx, rows, cols);
}
void SoftmaxBackwardF64(SoftmaxOp op, const double* y, const double* gy, double* gx, int64_t rows, int64_t cols) {
  SoftmaxBackwardImpl(op, y, gy, gx, rows, cols);
}

}  // namespace hm::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hm::cpu::highway {

HWY_EXPORT(ReduceRowsF32);
HWY_EXPORT(ReduceRowsF64);
HWY_EXPORT(ReduceColsF32);
HWY_EXPORT(ReduceColsF64);
HWY_EXPORT(SoftmaxF32);
HWY_EXPORT(SoftmaxF64);
HWY_EXPORT(SoftmaxBackwardF32);
HWY_EXPORT(SoftmaxBackwardF64);

void reduce_rows_f32(ReduceOp op, const float* x, float* out, int64_t rows, int64_t cols) {
  HWY_DYNAMIC_DISPATCH(ReduceRowsF32)(op, x, out, rows, cols);
}
void reduce_rows_f64(ReduceOp op, const double* x, double* out, int64_t rows, int64_t cols) {
  HWY_DYNAMIC_DISPATCH(ReduceRowsF64)(op, x, out, rows, cols);
}
void reduce_cols_f32(ReduceOp op, const float* x, float* out, int64_t rows, int64_t cols, int64_t ld) {
  HWY_DYNAMIC_DISPATCH(ReduceColsF32)(op, x, out, rows, cols, ld);
}
void reduce_cols_f64(ReduceOp op, const double* x, double* out, int64_t rows, int64_t cols, int64_t ld) {
  HWY_DYNAMIC_DISPATCH(ReduceColsF64)(op, x, out, rows, cols, ld);
}
void softmax_f32(SoftmaxOp op, const float* x, float* y, int64_t rows, int64_t cols) {
  HWY_DYNAMIC_DISPATCH(SoftmaxF32)(op, x, y, rows, cols);
}
void softmax_f64(SoftmaxOp op, const double* x, double* y, int64_t rows, int64_t cols) {
  HWY_DYNAMIC_DISPATCH(SoftmaxF64)(op, x, y, rows, cols);
}
void softmax_backward_f32(SoftmaxOp op, const float* y, const float* gy, float* gx, int64_t rows, int64_t cols) {
  HWY_DYNAMIC_DISPATCH(SoftmaxBackwardF32)(op, y, gy, gx, rows, cols);
}
void softmax_backward_f64(SoftmaxOp op, const double* y, const double* gy, double* gx, int64_t rows, int64_t cols) {
  HWY_DYNAMIC_DISPATCH(SoftmaxBackwardF64)(op, y, gy, gx, rows, cols);
}

}  // namespace hm::cpu::highway
#endif  // HWY_ONCE
