// CUDA softmax family (cuda/softmax.h), the row kernels of cpu/elementwise_scalar.cpp softmax / softmax_backward
// with the sums done by a warp or block tree (accumulated in T).
#include "cuda/common.cuh"
#include "cuda/softmax.h"
#include "engine/error.h"

namespace hm::cuda {
namespace {

using cpu::SoftmaxOp;
using detail::RowGroup;

template <bool kWarpRows, SoftmaxOp OP, class T>
__global__ void softmax_kernel(const T* x, T* y, int64_t rows, int64_t cols) {
  using G = RowGroup<kWarpRows>;
  for (int64_t r = G::first_row(); r < rows; r += G::row_step()) {
    const T* xr = x + r * cols;  // (cols)
    T m = -detail::dinf<T>();
    for (int64_t c = G::lane(); c < cols; c += G::width()) m = detail::max_nan(m, xr[c]);
    m = G::reduce(m, detail::MaxNanOp(), -detail::dinf<T>());
    const T shift = detail::disinf(m) ? T(0) : m;  // torch.logsumexp: masked_fill(maxes.abs() == inf, 0)
    T sum = 0;
    for (int64_t c = G::lane(); c < cols; c += G::width()) sum += detail::dexp(xr[c] - shift);
    sum = G::reduce(sum, detail::SumOp(), T(0));
    if constexpr (OP == SoftmaxOp::logsumexp) {
      if (G::lane() == 0) y[r] = shift + detail::dlog(sum);
    } else if constexpr (OP == SoftmaxOp::softmax) {
      T* yr = y + r * cols;  // (cols)
      for (int64_t c = G::lane(); c < cols; c += G::width()) yr[c] = detail::dexp(xr[c] - shift) / sum;
    } else {
      const T lse = shift + detail::dlog(sum);
      T* yr = y + r * cols;  // (cols)
      for (int64_t c = G::lane(); c < cols; c += G::width()) yr[c] = xr[c] - lse;
    }
  }
}

template <bool kWarpRows, SoftmaxOp OP, class T>
__global__ void softmax_backward_kernel(const T* y, const T* gy, T* gx, int64_t rows, int64_t cols) {
  using G = RowGroup<kWarpRows>;
  for (int64_t r = G::first_row(); r < rows; r += G::row_step()) {
    const T* yr = y + r * cols;   // (cols)
    const T* gr = gy + r * cols;  // (cols)
    T* out = gx + r * cols;       // (cols)
    T acc = 0;
    for (int64_t c = G::lane(); c < cols; c += G::width()) acc += OP == SoftmaxOp::softmax ? gr[c] * yr[c] : gr[c];
    acc = G::reduce(acc, detail::SumOp(), T(0));
    for (int64_t c = G::lane(); c < cols; c += G::width())
      out[c] = OP == SoftmaxOp::softmax ? yr[c] * (gr[c] - acc) : gr[c] - detail::dexp(yr[c]) * acc;
  }
}

}  // namespace

template <class T>
void softmax(SoftmaxOp op, const T* x, T* y, int64_t rows, int64_t cols) {
  switch (op) {
    case SoftmaxOp::softmax:
      return detail::launch_rows(softmax_kernel<true, SoftmaxOp::softmax, T>,
                                 softmax_kernel<false, SoftmaxOp::softmax, T>, rows, cols, "softmax_kernel", x, y, rows,
                                 cols);
    case SoftmaxOp::log_softmax:
      return detail::launch_rows(softmax_kernel<true, SoftmaxOp::log_softmax, T>,
                                 softmax_kernel<false, SoftmaxOp::log_softmax, T>, rows, cols, "softmax_kernel", x, y,
                                 rows, cols);
    case SoftmaxOp::logsumexp:
      return detail::launch_rows(softmax_kernel<true, SoftmaxOp::logsumexp, T>,
                                 softmax_kernel<false, SoftmaxOp::logsumexp, T>, rows, cols, "softmax_kernel", x, y,
                                 rows, cols);
  }
  throw Error("cuda softmax: unknown op " + std::to_string(int(op)));
}

template <class T>
void softmax_backward(SoftmaxOp op, const T* y, const T* gy, T* gx, int64_t rows, int64_t cols) {
  hm::check(op != SoftmaxOp::logsumexp, "cuda softmax_backward: logsumexp's backward is composed in ops/softmax.cpp");
  if (op == SoftmaxOp::softmax)
    detail::launch_rows(softmax_backward_kernel<true, SoftmaxOp::softmax, T>,
                        softmax_backward_kernel<false, SoftmaxOp::softmax, T>, rows, cols, "softmax_backward_kernel", y,
                        gy, gx, rows, cols);
  else
    detail::launch_rows(softmax_backward_kernel<true, SoftmaxOp::log_softmax, T>,
                        softmax_backward_kernel<false, SoftmaxOp::log_softmax, T>, rows, cols,
                        "softmax_backward_kernel", y, gy, gx, rows, cols);
}

template void softmax<float>(SoftmaxOp, const float*, float*, int64_t, int64_t);
template void softmax<double>(SoftmaxOp, const double*, double*, int64_t, int64_t);
template void softmax_backward<float>(SoftmaxOp, const float*, const float*, float*, int64_t, int64_t);
template void softmax_backward<double>(SoftmaxOp, const double*, const double*, double*, int64_t, int64_t);

}  // namespace hm::cuda
