#include "cpu/elementwise_scalar.h"

#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "cpu/parallel.h"
#include "engine/rng.h"

namespace hm::cpu {

const char* op_name(BinaryOp op) {
  constexpr const char* kNames[] = {"add", "sub", "mul", "div", "rsub", "rdiv"};
  return kNames[int(op)];
}
const char* op_name(UnaryOp op) {
  constexpr const char* kNames[] = {"neg",  "exp",  "log",  "sqrt",     "tanh", "sigmoid",
                                    "relu", "gelu", "silu", "softplus", "pow"};
  return kNames[int(op)];
}
const char* op_name(ReduceOp op) { return op == ReduceOp::sum ? "sum" : "max"; }
const char* op_name(SoftmaxOp op) {
  constexpr const char* kNames[] = {"softmax", "log_softmax", "logsumexp"};
  return kNames[int(op)];
}

BinaryOp reversed(BinaryOp op) {
  switch (op) {
    case BinaryOp::sub:
      return BinaryOp::rsub;
    case BinaryOp::div:
      return BinaryOp::rdiv;
    case BinaryOp::rsub:
      return BinaryOp::sub;
    case BinaryOp::rdiv:
      return BinaryOp::div;
    default:
      return op;  // add, mul commute
  }
}

BackwardReads backward_reads(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg:
      return BackwardReads::none;
    case UnaryOp::exp:      // y
    case UnaryOp::sqrt:     // 1 / (2 y)
    case UnaryOp::tanh:     // 1 - y^2
    case UnaryOp::sigmoid:  // y (1 - y)
    case UnaryOp::relu:     // y > 0 (PyTorch's threshold_backward on the result)
      return BackwardReads::output;
    default:
      return BackwardReads::input;  // log, gelu, silu, softplus, pow
  }
}

namespace scalar {
namespace {

using Acc = double;  // accumulator of every reduction: the reference should be the most accurate variant

template <class T>
T apply(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::add:
      return a + b;
    case BinaryOp::sub:
      return a - b;
    case BinaryOp::mul:
      return a * b;
    case BinaryOp::div:
      return a / b;
    case BinaryOp::rsub:
      return b - a;
    case BinaryOp::rdiv:
      return b / a;
  }
  return a;
}

// Phi(x) = 0.5 erfc(-x / sqrt 2) and phi(x) = exp(-x^2 / 2) / sqrt(2 pi) evaluated in a wider type, so that the
// rounding of -x / sqrt 2 and x^2 (up to x^2 ulp of the result in the tails) stays below T's precision.
template <class T>
using Wide = std::conditional_t<sizeof(T) == 4, double, long double>;
template <class T>
T normal_cdf(T x) {
  return T(Wide<T>(0.5) * std::erfc(-Wide<T>(x) / std::sqrt(Wide<T>(2))));
}
template <class T>
T normal_pdf(T x) {
  return T(std::exp(Wide<T>(-0.5) * Wide<T>(x) * Wide<T>(x)) / std::sqrt(Wide<T>(2 * M_PI)));
}

template <class T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// Call f(std::integral_constant<Op, op>) so that every op gets its own loop with the op a compile-time constant
// (the switch leaves the inner loop, and simple ops vectorise).
template <class F>
void with_op(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::add:
      return f(std::integral_constant<BinaryOp, BinaryOp::add>());
    case BinaryOp::sub:
      return f(std::integral_constant<BinaryOp, BinaryOp::sub>());
    case BinaryOp::mul:
      return f(std::integral_constant<BinaryOp, BinaryOp::mul>());
    case BinaryOp::div:
      return f(std::integral_constant<BinaryOp, BinaryOp::div>());
    case BinaryOp::rsub:
      return f(std::integral_constant<BinaryOp, BinaryOp::rsub>());
    case BinaryOp::rdiv:
      return f(std::integral_constant<BinaryOp, BinaryOp::rdiv>());
  }
}

template <class F>
void with_op(UnaryOp op, F&& f) {
  switch (op) {
    case UnaryOp::neg:
      return f(std::integral_constant<UnaryOp, UnaryOp::neg>());
    case UnaryOp::exp:
      return f(std::integral_constant<UnaryOp, UnaryOp::exp>());
    case UnaryOp::log:
      return f(std::integral_constant<UnaryOp, UnaryOp::log>());
    case UnaryOp::sqrt:
      return f(std::integral_constant<UnaryOp, UnaryOp::sqrt>());
    case UnaryOp::tanh:
      return f(std::integral_constant<UnaryOp, UnaryOp::tanh>());
    case UnaryOp::sigmoid:
      return f(std::integral_constant<UnaryOp, UnaryOp::sigmoid>());
    case UnaryOp::relu:
      return f(std::integral_constant<UnaryOp, UnaryOp::relu>());
    case UnaryOp::gelu:
      return f(std::integral_constant<UnaryOp, UnaryOp::gelu>());
    case UnaryOp::silu:
      return f(std::integral_constant<UnaryOp, UnaryOp::silu>());
    case UnaryOp::softplus:
      return f(std::integral_constant<UnaryOp, UnaryOp::softplus>());
    case UnaryOp::pow:
      return f(std::integral_constant<UnaryOp, UnaryOp::pow>());
  }
}

// max that propagates NaN like torch.max (a plain `>` comparison would drop a NaN seen after the first element).
template <class T>
T max_nan(T m, T x) {
  return (std::isnan(x) || x > m) ? x : m;
}

}  // namespace

template <class T>
inline T unary_value(UnaryOp op, T x, T p) {
  switch (op) {
    case UnaryOp::neg:
      return -x;
    case UnaryOp::exp:
      return std::exp(x);
    case UnaryOp::log:
      return std::log(x);
    case UnaryOp::sqrt:
      return std::sqrt(x);
    case UnaryOp::tanh:
      return std::tanh(x);
    case UnaryOp::sigmoid:
      return sigmoid(x);
    case UnaryOp::relu:
      return x < T(0) ? T(0) : x;  // NaN stays NaN (torch.relu)
    // gelu = x * Phi(x), Phi(x) = 0.5 (1 + erf(x / sqrt 2)) = 0.5 erfc(-x / sqrt 2) (torch gelu, approximate='none')
    case UnaryOp::gelu:
      return x * normal_cdf(x);
    case UnaryOp::silu:
      return x * sigmoid(x);
    // torch.nn.functional.softplus(x, beta=1, threshold=20): x above the threshold, log1p(exp(x)) below
    case UnaryOp::softplus:
      return x > T(20) ? x : std::log1p(std::exp(x));
    case UnaryOp::pow:
      return std::pow(x, p);
  }
  return x;
}

template <class T>
inline T unary_derivative(UnaryOp op, T x, T y, T p) {
  switch (op) {
    case UnaryOp::neg:
      return T(-1);
    case UnaryOp::exp:
      return y;
    case UnaryOp::log:
      return T(1) / x;
    case UnaryOp::sqrt:
      return T(1) / (T(2) * y);
    case UnaryOp::tanh:
      return T(1) - y * y;
    case UnaryOp::sigmoid:
      return y * (T(1) - y);
    case UnaryOp::relu:
      return y > T(0) ? T(1) : T(0);
    // d/dx x Phi(x) = Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi)  (PyTorch GeluBackward, 'none')
    case UnaryOp::gelu:
      return normal_cdf(x) + x * normal_pdf(x);
    // d/dx x s(x) = s (1 + x (1 - s))  (PyTorch silu_backward)
    case UnaryOp::silu: {
      const T s = sigmoid(x);
      return s * (T(1) + x * (T(1) - s));
    }
    // softplus_backward: z = exp(x); x > threshold ? 1 : z / (z + 1) = sigmoid(x)
    case UnaryOp::softplus:
      return x > T(20) ? T(1) : sigmoid(x);
    // pow_backward: exponent == 0 ? 0 : exponent * x^(exponent - 1)
    case UnaryOp::pow:
      return p == T(0) ? T(0) : p * std::pow(x, p - T(1));
  }
  return T(0);
}

template <class T>
void binary(BinaryOp op, const T* a, const T* b, T* out, int64_t n) {
  with_op(op, [&](auto k) {
    for (int64_t i = 0; i < n; ++i) out[i] = apply(k.value, a[i], b[i]);
  });
}

template <class T>
void binary_row(BinaryOp op, const T* a, const T* b, T* out, int64_t rows, int64_t cols) {
  with_op(op, [&](auto k) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = apply(k.value, a[r * cols + c], b[c]);
  });
}

template <class T>
void binary_col(BinaryOp op, const T* a, const T* b, T* out, int64_t rows, int64_t cols) {
  with_op(op, [&](auto k) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = apply(k.value, a[r * cols + c], b[r]);
  });
}

template <class T>
void binary_scalar(BinaryOp op, const T* a, T s, T* out, int64_t n) {
  with_op(op, [&](auto k) {
    for (int64_t i = 0; i < n; ++i) out[i] = apply(k.value, a[i], s);
  });
}

template <class T>
void unary(UnaryOp op, const T* x, T* y, int64_t n, T param) {
  with_op(op, [&](auto k) {
    for (int64_t i = 0; i < n; ++i) y[i] = unary_value(k.value, x[i], param);
  });
}

template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n, T param) {
  with_op(op, [&](auto k) {
    const BackwardReads reads = backward_reads(k.value);
    for (int64_t i = 0; i < n; ++i) {
      const T xi = reads == BackwardReads::input ? x[i] : T(0);
      const T yi = reads == BackwardReads::output ? y[i] : T(0);
      // PyTorch writes a hard 0 (not g * 0, which keeps a NaN g) for relu's dead side and for pow(x, 0).
      if ((k.value == UnaryOp::relu && !(yi > T(0))) || (k.value == UnaryOp::pow && param == T(0)))
        gx[i] = T(0);
      else
        gx[i] = gy[i] * unary_derivative(k.value, xi, yi, param);
    }
  });
}

template <class T>
void reduce_rows(ReduceOp op, const T* x, T* out, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * cols;
    if (op == ReduceOp::sum) {
      Acc acc = 0;
      for (int64_t c = 0; c < cols; ++c) acc += row[c];
      out[r] = T(acc);
    } else {
      T m = row[0];
      for (int64_t c = 1; c < cols; ++c) m = max_nan(m, row[c]);
      out[r] = m;
    }
  }
}

template <class T>
void reduce_cols(ReduceOp op, const T* x, T* out, int64_t rows, int64_t cols, int64_t ld) {
  // Each column is accumulated in row order; rows are the outer loop so the reads stay sequential.
  if (op == ReduceOp::sum) {
    std::vector<Acc> acc(size_t(cols), Acc(0));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) acc[size_t(c)] += x[r * ld + c];
    for (int64_t c = 0; c < cols; ++c) out[c] = T(acc[size_t(c)]);
  } else {
    for (int64_t c = 0; c < cols; ++c) out[c] = x[c];
    for (int64_t r = 1; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) out[c] = max_nan(out[c], x[r * ld + c]);
  }
}

template <class T>
void softmax(SoftmaxOp op, const T* x, T* y, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t c = 0; c < cols; ++c) m = max_nan(m, xr[c]);
    const T shift = std::isinf(m) ? T(0) : m;  // torch.logsumexp: masked_fill(maxes.abs() == inf, 0)
    Acc sum = 0;
    for (int64_t c = 0; c < cols; ++c) sum += std::exp(xr[c] - shift);
    if (op == SoftmaxOp::logsumexp) {
      y[r] = shift + T(std::log(sum));
    } else if (op == SoftmaxOp::softmax) {
      for (int64_t c = 0; c < cols; ++c) y[r * cols + c] = std::exp(xr[c] - shift) / T(sum);
    } else {
      const T lse = shift + T(std::log(sum));
      for (int64_t c = 0; c < cols; ++c) y[r * cols + c] = xr[c] - lse;
    }
  }
}

template <class T>
void softmax_backward(SoftmaxOp op, const T* y, const T* gy, T* gx, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* yr = y + r * cols;
    const T* gr = gy + r * cols;
    T* out = gx + r * cols;
    Acc acc = 0;
    if (op == SoftmaxOp::softmax) {
      for (int64_t c = 0; c < cols; ++c) acc += Acc(gr[c]) * yr[c];
      for (int64_t c = 0; c < cols; ++c) out[c] = yr[c] * (gr[c] - T(acc));
    } else {
      for (int64_t c = 0; c < cols; ++c) acc += gr[c];
      for (int64_t c = 0; c < cols; ++c) out[c] = gr[c] - std::exp(yr[c]) * T(acc);
    }
  }
}

template <class T>
void where(const uint8_t* cond, const T* a, const T* b, T* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = cond[i] ? a[i] : b[i];
}

template <class T>
void max_backward_rows(const T* x, const T* m, const T* g, T* gx, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* out = gx + r * cols;
    bool routed = false;
    for (int64_t c = 0; c < cols; ++c) {
      const bool hit = !routed && (xr[c] == m[r] || (std::isnan(m[r]) && std::isnan(xr[c])));
      out[c] = hit ? g[r] : T(0);
      routed = routed || hit;
    }
  }
}

template <class T>
void dropout(const T* x, T* y, T* mask, int64_t n, double p, uint64_t key, uint64_t counter) {
  // keep <=> word >= p * 2^32, so P(keep) = 1 - p up to 2^-32; p == 1 keeps nothing (threshold 2^32).
  const uint64_t threshold = uint64_t(std::ldexp(p, 32));
  const T scale = p < 1 ? T(1.0 / (1.0 - p)) : T(0);
  const int64_t blocks = (n + 3) / 4;
  parallel_for(blocks, 40, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const auto words = philox4x32(key, counter + uint64_t(b), 0);
      for (int64_t j = 0; j < 4 && b * 4 + j < n; ++j) {
        const int64_t i = b * 4 + j;
        mask[i] = uint64_t(words[j]) >= threshold ? scale : T(0);
        y[i] = x[i] * mask[i];
      }
    }
  });
}

template float unary_value<float>(UnaryOp, float, float);
template float unary_derivative<float>(UnaryOp, float, float, float);
template void binary<float>(BinaryOp, const float*, const float*, float*, int64_t);
template void binary_row<float>(BinaryOp, const float*, const float*, float*, int64_t, int64_t);
template void binary_col<float>(BinaryOp, const float*, const float*, float*, int64_t, int64_t);
template void binary_scalar<float>(BinaryOp, const float*, float, float*, int64_t);
template void unary<float>(UnaryOp, const float*, float*, int64_t, float);
template void unary_backward<float>(UnaryOp, const float*, const float*, const float*, float*, int64_t, float);
template void reduce_rows<float>(ReduceOp, const float*, float*, int64_t, int64_t);
template void reduce_cols<float>(ReduceOp, const float*, float*, int64_t, int64_t, int64_t);
template void softmax<float>(SoftmaxOp, const float*, float*, int64_t, int64_t);
template void softmax_backward<float>(SoftmaxOp, const float*, const float*, float*, int64_t, int64_t);
template void where<float>(const uint8_t*, const float*, const float*, float*, int64_t);
template void max_backward_rows<float>(const float*, const float*, const float*, float*, int64_t, int64_t);
template void dropout<float>(const float*, float*, float*, int64_t, double, uint64_t, uint64_t);
template double unary_value<double>(UnaryOp, double, double);
template double unary_derivative<double>(UnaryOp, double, double, double);
template void binary<double>(BinaryOp, const double*, const double*, double*, int64_t);
template void binary_row<double>(BinaryOp, const double*, const double*, double*, int64_t, int64_t);
template void binary_col<double>(BinaryOp, const double*, const double*, double*, int64_t, int64_t);
template void binary_scalar<double>(BinaryOp, const double*, double, double*, int64_t);
template void unary<double>(UnaryOp, const double*, double*, int64_t, double);
template void unary_backward<double>(UnaryOp, const double*, const double*, const double*, double*, int64_t, double);
template void reduce_rows<double>(ReduceOp, const double*, double*, int64_t, int64_t);
template void reduce_cols<double>(ReduceOp, const double*, double*, int64_t, int64_t, int64_t);
template void softmax<double>(SoftmaxOp, const double*, double*, int64_t, int64_t);
template void softmax_backward<double>(SoftmaxOp, const double*, const double*, double*, int64_t, int64_t);
template void where<double>(const uint8_t*, const double*, const double*, double*, int64_t);
template void max_backward_rows<double>(const double*, const double*, const double*, double*, int64_t, int64_t);
template void dropout<double>(const double*, double*, double*, int64_t, double, uint64_t, uint64_t);

}  // namespace scalar
}  // namespace hm::cpu
