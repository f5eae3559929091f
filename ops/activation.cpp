#include "ops/activation.h"

#include "ops/elementwise.h"
#include "ops/registry.h"

namespace hm {
namespace {
const OpRegistrar kOps{"tanh", "sigmoid", "relu", "gelu", "silu", "softplus"};
}

Tensor tanh(const Tensor& x) { return detail::unary_op(cpu::UnaryOp::tanh, "tanh", x); }
Tensor sigmoid(const Tensor& x) { return detail::unary_op(cpu::UnaryOp::sigmoid, "sigmoid", x); }
Tensor relu(const Tensor& x) { return detail::unary_op(cpu::UnaryOp::relu, "relu", x); }
Tensor gelu(const Tensor& x) { return detail::unary_op(cpu::UnaryOp::gelu, "gelu", x); }
Tensor silu(const Tensor& x) { return detail::unary_op(cpu::UnaryOp::silu, "silu", x); }
Tensor softplus(const Tensor& x) { return detail::unary_op(cpu::UnaryOp::softplus, "softplus", x); }

}  // namespace hm
