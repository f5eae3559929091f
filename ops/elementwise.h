// Elementwise arithmetic with numpy broadcasting and autograd: add / sub / mul / div (tensor-tensor, tensor-scalar,
// scalar-tensor, and the operators), neg, exp, log, sqrt, pow by a scalar exponent, where and masked_fill.
// Kernels: cpu/elementwise.h through ops/elementwise_tables.h. Float32 / float64 tensors; both operands of a
// binary op must have the same dtype (no implicit promotion).
#pragma once
#include "cpu/elementwise.h"
#include "engine/tensor.h"

namespace hm {

// numpy broadcasting of two shapes; throws "<op>: cannot broadcast (2, 3) with (4,)".
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor add(double s, const Tensor& a);
Tensor sub(const Tensor& a, double s);
Tensor sub(double s, const Tensor& a);
Tensor mul(const Tensor& a, double s);
Tensor mul(double s, const Tensor& a);
Tensor div(const Tensor& a, double s);
Tensor div(double s, const Tensor& a);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double s);
Tensor operator+(double s, const Tensor& a);
Tensor operator-(const Tensor& a, double s);
Tensor operator-(double s, const Tensor& a);
Tensor operator*(const Tensor& a, double s);
Tensor operator*(double s, const Tensor& a);
Tensor operator/(const Tensor& a, double s);
Tensor operator/(double s, const Tensor& a);
Tensor operator-(const Tensor& a);

Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);  // libm pow's rules; d/dx = exponent * x^(exponent - 1)

// out = cond ? a : b with cond, a, b broadcast together; cond is a uint8 mask (nonzero = true). Gradients flow
// to a where cond holds and to b elsewhere.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// out = mask ? value : t, mask (uint8) broadcast to t's shape; the gradient of t is zero where masked.
Tensor masked_fill(const Tensor& t, const Tensor& mask, double value);

namespace detail {
// Shared by ops/activation.cpp: y = f(x) with the unary kernel table and its fused backward.
Tensor unary_op(cpu::UnaryOp op, const char* name, const Tensor& x, double param = 0.0);
}  // namespace detail

}  // namespace hm
